/* model_files.c — reads the files of a sentence-transformers BERT model directory: the JSON
 * configs (config.json, modules.json, 1_Pooling/config.json, sentence_bert_config.json), the
 * safetensors container (mapped read-only and validated before any tensor is handed out), and
 * the BERT weights, checked against the config name by name and copied into one float block.
 *
 * It deliberately does not tokenize, run the encoder, or write safetensors files. It reads only
 * little-endian data (the format's byte order) and converts only F32, F16 and BF16 to float.
 * A file truncated by someone else while it is mapped can still raise SIGBUS: the mapping is
 * the price of not copying 90 MB twice, and model files are not edited in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "simulator/embed/model_files.h"

/* Config files are a few hundred bytes; anything past this is not one. */
#define MF_MAX_CONFIG (1u << 20)
/* Integers in JSON are doubles: beyond 2^53 they are no longer exact. */
#define MF_MAX_EXACT 9007199254740992.0
/* Longest path built from a model directory and a file name. */
#define MF_PATH 4096

/* ------------------------------------------------------------------------------------------
 * JSON helpers
 * ---------------------------------------------------------------------------------------- */

/* Writes a short description of a JSON value ("\"384\"", "true", "nothing") for messages. */
static const char *describe(const cJSON *v, char *buf, size_t cap) {
    if (!v) {
        snprintf(buf, cap, "nothing (the field is missing)");
        return buf;
    }
    char *s = cJSON_PrintUnformatted(v);
    if (!s) {
        snprintf(buf, cap, "a value that cannot be printed");
        return buf;
    }
    size_t n = strlen(s);
    if (n > 60)
        snprintf(buf, cap, "%.57s...", s);
    else
        snprintf(buf, cap, "%s", s);
    free(s);
    return buf;
}

/* 1-based line of byte offset `at` in text[0..n). */
static long line_of(const char *text, size_t n, size_t at) {
    long line = 1;
    for (size_t i = 0; i < at && i < n; i++) line += text[i] == '\n';
    return line;
}

/* Reads and parses the JSON file at path. Caller owns *out; release with cJSON_Delete(). */
static us_status json_load(const char *path, cJSON **out, us_err *err) {
    *out = NULL;
    char *buf;
    size_t n;
    us_status st = us_read_file(path, MF_MAX_CONFIG, &buf, &n, err);
    if (st != US_OK) return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (!root) {
        size_t at = end && end >= buf ? (size_t)(end - buf) : 0;
        us_err_set(err, US_EFORMAT, path, line_of(buf, n, at), NULL,
                   "expected JSON, found a syntax error at byte %zu", at);
        free(buf);
        return US_EFORMAT;
    }
    for (const char *p = end; p < buf + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            size_t at = (size_t)(p - buf);
            us_err_set(err, US_EFORMAT, path, line_of(buf, n, at), NULL,
                       "expected the end of the file after the JSON value, found more at byte "
                       "%zu",
                       at);
            cJSON_Delete(root);
            free(buf);
            return US_EFORMAT;
        }
    }
    free(buf);
    *out = root;
    return US_OK;
}

/* *out = obj[key], an integer in [1, max]. */
static us_status get_pos_int(const cJSON *obj, const char *key, int max, const char *path,
                             int *out, us_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char b[96];
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1) || v->valuedouble > MF_MAX_EXACT ||
        v->valuedouble != floor(v->valuedouble))
        return us_err_set(err, US_EFORMAT, path, 0, key, "expected a positive integer, found %s",
                          describe(v, b, sizeof b));
    if (v->valuedouble > max)
        return us_err_set(err, US_EFORMAT, path, 0, key,
                          "expected a positive integer of at most %d, found %s", max,
                          describe(v, b, sizeof b));
    *out = (int)v->valuedouble;
    return US_OK;
}

/* obj[key] must be the string `want`; what_for explains why in the message. */
static us_status want_string(const cJSON *obj, const char *key, const char *want,
                             const char *what_for, const char *path, us_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsString(v) && strcmp(v->valuestring, want) == 0) return US_OK;
    char b[96];
    return us_err_set(err, US_EFORMAT, path, 0, key, "expected \"%s\"%s, found %s", want,
                      what_for, describe(v, b, sizeof b));
}

/* ------------------------------------------------------------------------------------------
 * Configuration files
 * ---------------------------------------------------------------------------------------- */

us_status us_bert_config_read(const char *path, us_bert_config *cfg, us_err *err) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root;
    us_status st = json_load(path, &root, err);
    if (st != US_OK) return st;
    char b[96];
    if (!cJSON_IsObject(root)) {
        st = us_err_set(err, US_EFORMAT, path, 0, NULL, "expected a JSON object, found %s",
                        describe(root, b, sizeof b));
        goto done;
    }
    /* Caps keep every size product far inside 64 bits; real models are well below them. */
    if ((st = want_string(root, "model_type", "bert", " (a BERT encoder)", path, err)) ||
        (st = want_string(root, "hidden_act", "gelu", " (the only activation supported)", path,
                          err)) ||
        (st = get_pos_int(root, "vocab_size", 1 << 24, path, &cfg->vocab_size, err)) ||
        (st = get_pos_int(root, "hidden_size", 1 << 16, path, &cfg->hidden_size, err)) ||
        (st = get_pos_int(root, "num_hidden_layers", 1 << 10, path, &cfg->num_hidden_layers,
                          err)) ||
        (st = get_pos_int(root, "num_attention_heads", 1 << 10, path,
                          &cfg->num_attention_heads, err)) ||
        (st = get_pos_int(root, "intermediate_size", 1 << 18, path, &cfg->intermediate_size,
                          err)) ||
        (st = get_pos_int(root, "max_position_embeddings", 1 << 20, path,
                          &cfg->max_position_embeddings, err)) ||
        (st = get_pos_int(root, "type_vocab_size", 1 << 10, path, &cfg->type_vocab_size, err)))
        goto done;
    if (cfg->hidden_size % cfg->num_attention_heads != 0) {
        st = us_err_set(err, US_EFORMAT, path, 0, "num_attention_heads",
                        "expected a divisor of hidden_size %d, found %d", cfg->hidden_size,
                        cfg->num_attention_heads);
        goto done;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || !(eps->valuedouble < 1) ||
        !((float)eps->valuedouble > 0)) {
        st = us_err_set(err, US_EFORMAT, path, 0, "layer_norm_eps",
                        "expected a number in (0, 1), found %s", describe(eps, b, sizeof b));
        goto done;
    }
    cfg->layer_norm_eps = (float)eps->valuedouble;
    /* Relative position embeddings need other tensors and another attention. */
    if (cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type") &&
        (st = want_string(root, "position_embedding_type", "absolute",
                          " (the only position embedding supported)", path, err)))
        goto done;
    cfg->max_seq_length = cfg->max_position_embeddings;
    cfg->pooling = US_BERT_POOL_MEAN;
    cfg->normalize = 0;
done:
    cJSON_Delete(root);
    return st;
}

us_status us_bert_pooling_read(const char *path, us_bert_config *cfg, us_err *err) {
    cJSON *root;
    us_status st = json_load(path, &root, err);
    if (st != US_OK) return st;
    char b[96];
    const cJSON *mean = NULL;
    if (!cJSON_IsObject(root)) {
        st = us_err_set(err, US_EFORMAT, path, 0, NULL, "expected a JSON object, found %s",
                        describe(root, b, sizeof b));
        goto done;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strncmp(c->string, "pooling_mode_", 13) != 0) continue;
        if (!cJSON_IsBool(c)) {
            st = us_err_set(err, US_EFORMAT, path, 0, c->string,
                            "expected true or false, found %s", describe(c, b, sizeof b));
            goto done;
        }
        if (strcmp(c->string, "pooling_mode_mean_tokens") == 0) {
            mean = c;
        } else if (cJSON_IsTrue(c)) {
            st = us_err_set(err, US_EFORMAT, path, 0, c->string,
                            "unsupported pooling: only mean pooling (pooling_mode_mean_tokens) "
                            "is implemented, found this mode on");
            goto done;
        }
    }
    if (!cJSON_IsTrue(mean)) {
        st = us_err_set(err, US_EFORMAT, path, 0, "pooling_mode_mean_tokens",
                        "expected true (only mean pooling is implemented), found %s",
                        describe(mean, b, sizeof b));
        goto done;
    }
    const cJSON *dim = cJSON_GetObjectItemCaseSensitive(root, "word_embedding_dimension");
    if (dim && !(cJSON_IsNumber(dim) && dim->valuedouble == cfg->hidden_size)) {
        st = us_err_set(err, US_EFORMAT, path, 0, "word_embedding_dimension",
                        "expected hidden_size %d, found %s", cfg->hidden_size,
                        describe(dim, b, sizeof b));
        goto done;
    }
    cfg->pooling = US_BERT_POOL_MEAN;
done:
    cJSON_Delete(root);
    return st;
}

us_status us_bert_sbert_read(const char *path, us_bert_config *cfg, us_err *err) {
    cJSON *root;
    us_status st = json_load(path, &root, err);
    if (st != US_OK) return st;
    char b[96];
    int m = 0;
    if (!cJSON_IsObject(root)) {
        st = us_err_set(err, US_EFORMAT, path, 0, NULL, "expected a JSON object, found %s",
                        describe(root, b, sizeof b));
    } else if ((st = get_pos_int(root, "max_seq_length", cfg->max_position_embeddings, path, &m,
                                 err)) == US_OK) {
        cfg->max_seq_length = m;
    }
    cJSON_Delete(root);
    return st;
}

/* A module folder from modules.json: relative, without "..", fits in cap. */
static int safe_rel_path(const char *p, size_t cap) {
    size_t n = strlen(p);
    if (n >= cap || p[0] == '/') return 0;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.') return 0;
        s += len + (e != NULL);
    }
    return 1;
}

us_status us_bert_modules_read(const char *path, us_bert_config *cfg, char *pool_dir, size_t cap,
                               us_err *err) {
    static const char *const k_transformer = "sentence_transformers.models.Transformer";
    static const char *const k_pooling = "sentence_transformers.models.Pooling";
    static const char *const k_normalize = "sentence_transformers.models.Normalize";
    cJSON *root;
    us_status st = json_load(path, &root, err);
    if (st != US_OK) return st;
    char b[96], field[32];
    int stage = 0; /* 1 after the Transformer, 2 after Pooling, 3 after Normalize */
    int normalize = 0;
    if (!cJSON_IsArray(root)) {
        st = us_err_set(err, US_EFORMAT, path, 0, NULL,
                        "expected a JSON array of modules, found %s", describe(root, b, sizeof b));
        goto done;
    }
    int i = 0;
    for (const cJSON *m = root->child; m; m = m->next, i++) {
        snprintf(field, sizeof field, "[%d].type", i);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
        const cJSON *mpath = cJSON_GetObjectItemCaseSensitive(m, "path");
        if (!cJSON_IsString(type)) {
            st = us_err_set(err, US_EFORMAT, path, 0, field, "expected a string, found %s",
                            describe(type, b, sizeof b));
            goto done;
        }
        const char *t = type->valuestring;
        int next = strcmp(t, k_transformer) == 0 ? 1
                   : strcmp(t, k_pooling) == 0   ? 2
                   : strcmp(t, k_normalize) == 0 ? 3
                                                 : 0;
        if (next == 0) {
            st = us_err_set(err, US_EFORMAT, path, 0, field,
                            "unsupported module: expected Transformer, Pooling or Normalize "
                            "(sentence_transformers.models), found %s",
                            describe(type, b, sizeof b));
            goto done;
        }
        if (next != stage + 1) {
            st = us_err_set(err, US_EFORMAT, path, 0, field,
                            "expected the modules in the order Transformer, Pooling, Normalize "
                            "(each once), found %s as module %d",
                            describe(type, b, sizeof b), i);
            goto done;
        }
        stage = next;
        if (next == 2) {
            snprintf(field, sizeof field, "[%d].path", i);
            const char *p = cJSON_IsString(mpath) ? mpath->valuestring : NULL;
            if (mpath && !p) {
                st = us_err_set(err, US_EFORMAT, path, 0, field, "expected a string, found %s",
                                describe(mpath, b, sizeof b));
                goto done;
            }
            if (!p) p = "";
            if (!safe_rel_path(p, cap)) {
                st = us_err_set(err, US_EFORMAT, path, 0, field,
                                "expected a folder inside the model directory, found %s",
                                describe(mpath, b, sizeof b));
                goto done;
            }
            snprintf(pool_dir, cap, "%s", p);
        }
        normalize |= next == 3;
    }
    if (stage < 2) {
        st = us_err_set(err, US_EFORMAT, path, 0, NULL,
                        "expected a Transformer module followed by a Pooling module, found %s",
                        stage == 0 ? "neither" : "no Pooling module");
        goto done;
    }
    cfg->normalize = normalize;
done:
    cJSON_Delete(root);
    return st;
}

/* out = dir/name; 0 when it does not fit. */
static int join(char *out, size_t cap, const char *dir, const char *name) {
    int k = snprintf(out, cap, "%s/%s", dir, name);
    return k > 0 && (size_t)k < cap;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

us_status us_bert_dir_config(const char *dir, us_bert_config *cfg, us_err *err) {
    char path[MF_PATH], sub[MF_PATH];
    if (!join(path, sizeof path, dir, "config.json"))
        return us_err_set(err, US_EINVAL, dir, 0, NULL, "path too long");
    us_status st = us_bert_config_read(path, cfg, err);
    if (st != US_OK) return st;
    if (!join(path, sizeof path, dir, "modules.json"))
        return us_err_set(err, US_EINVAL, dir, 0, NULL, "path too long");
    if (exists(path)) {
        char pool[256];
        if ((st = us_bert_modules_read(path, cfg, pool, sizeof pool, err)) != US_OK) return st;
        int ok = pool[0] ? join(sub, sizeof sub, dir, pool) : join(sub, sizeof sub, dir, ".");
        if (!ok || !join(path, sizeof path, sub, "config.json"))
            return us_err_set(err, US_EINVAL, dir, 0, NULL, "path too long");
        if ((st = us_bert_pooling_read(path, cfg, err)) != US_OK) return st;
    } else {
        if (!join(path, sizeof path, dir, "1_Pooling/config.json"))
            return us_err_set(err, US_EINVAL, dir, 0, NULL, "path too long");
        if (exists(path) && (st = us_bert_pooling_read(path, cfg, err)) != US_OK) return st;
    }
    if (!join(path, sizeof path, dir, "sentence_bert_config.json"))
        return us_err_set(err, US_EINVAL, dir, 0, NULL, "path too long");
    if (exists(path) && (st = us_bert_sbert_read(path, cfg, err)) != US_OK) return st;
    return US_OK;
}

/* ------------------------------------------------------------------------------------------
 * Element types and conversions
 * ---------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} k_dtypes[US_DT_COUNT] = {
    [US_DT_BOOL] = {"BOOL", 1},       [US_DT_U8] = {"U8", 1},     [US_DT_I8] = {"I8", 1},
    [US_DT_F8_E5M2] = {"F8_E5M2", 1}, [US_DT_F8_E4M3] = {"F8_E4M3", 1},
    [US_DT_I16] = {"I16", 2},         [US_DT_U16] = {"U16", 2},   [US_DT_F16] = {"F16", 2},
    [US_DT_BF16] = {"BF16", 2},       [US_DT_I32] = {"I32", 4},   [US_DT_U32] = {"U32", 4},
    [US_DT_F32] = {"F32", 4},         [US_DT_F64] = {"F64", 8},   [US_DT_I64] = {"I64", 8},
    [US_DT_U64] = {"U64", 8},
};

const char *us_dtype_name(us_dtype dt) {
    return (unsigned)dt < US_DT_COUNT ? k_dtypes[dt].name : "?";
}

size_t us_dtype_size(us_dtype dt) { return (unsigned)dt < US_DT_COUNT ? k_dtypes[dt].size : 0; }

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. */
float us_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | man << 13); /* inf, NaN payload */
    if (exp != 0) return bits_to_float(sign | (exp + 112u) << 23 | man << 13); /* 127 - 15 */
    /* zero and subnormals: man * 2^-24, exact in float (man < 2^10) */
    float mag = ldexpf((float)man, -24);
    return sign ? -mag : mag;
}

/* bfloat16 is the top half of a float. */
float us_bf16_to_f32(uint16_t b) { return bits_to_float((uint32_t)b << 16); }

/* ------------------------------------------------------------------------------------------
 * safetensors
 * ---------------------------------------------------------------------------------------- */

struct us_safetensors {
    const char *name;        /* for messages: the path, or open_mem's name */
    void *map;               /* the mapping to unmap, NULL for a borrowed buffer */
    size_t map_len;
    const uint8_t *data;     /* the data section */
    uint64_t data_len;
    us_st_tensor *tensors;   /* ntensors, sorted by name */
    size_t ntensors;
    const char **meta;       /* nmeta (key, value) pairs */
    size_t nmeta;
};

static int by_name(const void *a, const void *b) {
    return strcmp(((const us_st_tensor *)a)->name, ((const us_st_tensor *)b)->name);
}

static int by_range(const void *a, const void *b) {
    const us_st_tensor *x = *(const us_st_tensor *const *)a, *y = *(const us_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* "[30522, 384]" */
static const char *shape_str(const uint64_t *dims, int nd, char *buf, size_t cap) {
    size_t pos = 0;
    buf[0] = '\0';
    pos += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && pos < cap; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%llu", i ? ", " : "",
                                (unsigned long long)dims[i]);
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
    return buf;
}

/* A JSON number that is an exact non-negative integer. */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > MF_MAX_EXACT ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

/* Fills t (all but name and data) from its header entry e. */
static us_status parse_entry(const cJSON *e, us_st_tensor *t, uint64_t data_len,
                             const char *file, us_err *err) {
    char b[96], s1[160];
    if (!cJSON_IsObject(e))
        return us_err_set(err, US_EFORMAT, file, 0, t->name,
                          "expected an object with dtype, shape and data_offsets, found %s",
                          describe(e, b, sizeof b));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    int found = -1;
    for (int i = 0; cJSON_IsString(dt) && i < US_DT_COUNT; i++)
        if (strcmp(dt->valuestring, k_dtypes[i].name) == 0) found = i;
    if (found < 0)
        return us_err_set(err, US_EFORMAT, file, 0, t->name,
                          "dtype: expected one of F64 F32 F16 BF16 F8_E5M2 F8_E4M3 I64 I32 I16 "
                          "I8 U64 U32 U16 U8 BOOL, found %s",
                          describe(dt, b, sizeof b));
    t->dtype = (us_dtype)found;

    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    int nd = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
    if (nd < 0 || nd > US_ST_MAX_DIMS)
        return us_err_set(err, US_EFORMAT, file, 0, t->name,
                          "shape: expected an array of at most %d non-negative integers, found %s",
                          US_ST_MAX_DIMS, describe(sh, b, sizeof b));
    t->ndim = nd;
    int zero = 0;
    const cJSON *d = sh->child;
    for (int i = 0; i < nd; i++, d = d->next) {
        if (!json_u64(d, &t->shape[i]))
            return us_err_set(err, US_EFORMAT, file, 0, t->name,
                              "shape: expected non-negative integers, found %s",
                              describe(sh, b, sizeof b));
        zero |= t->shape[i] == 0;
    }
    /* numel * element size must fit in 64 bits (it is compared with a byte range below). */
    uint64_t numel = 1, esize = k_dtypes[t->dtype].size;
    for (int i = 0; i < nd && !zero; i++) {
        if (numel > UINT64_MAX / esize / t->shape[i])
            return us_err_set(err, US_EFORMAT, file, 0, t->name,
                              "shape %s of %s: expected fewer than 2^64 bytes of data",
                              shape_str(t->shape, nd, s1, sizeof s1), k_dtypes[t->dtype].name);
        numel *= t->shape[i];
    }
    t->numel = zero ? 0 : numel;

    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !json_u64(off->child, &t->begin) || !json_u64(off->child->next, &t->end) ||
        t->begin > t->end)
        return us_err_set(err, US_EFORMAT, file, 0, t->name,
                          "data_offsets: expected [begin, end] with 0 <= begin <= end, found %s",
                          describe(off, b, sizeof b));
    if (t->end > data_len)
        return us_err_set(err, US_EFORMAT, file, 0, t->name,
                          "data_offsets [%llu, %llu]: expected a range inside the data section "
                          "of %llu bytes",
                          (unsigned long long)t->begin, (unsigned long long)t->end,
                          (unsigned long long)data_len);
    uint64_t need = t->numel * esize;
    if (need != t->end - t->begin)
        return us_err_set(err, US_EFORMAT, file, 0, t->name,
                          "shape %s of %s needs %llu bytes, found data_offsets [%llu, %llu] "
                          "(%llu bytes)",
                          shape_str(t->shape, nd, s1, sizeof s1), k_dtypes[t->dtype].name,
                          (unsigned long long)need, (unsigned long long)t->begin,
                          (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
    return US_OK;
}

/* The tensors, sorted by (begin, end), must tile [0, data_len) exactly. */
static us_status check_tiling(us_safetensors *st, us_err *err) {
    size_t n = st->ntensors;
    if (n == 0) {
        if (st->data_len == 0) return US_OK;
        return us_err_set(err, US_EFORMAT, st->name, 0, NULL,
                          "the header has no tensors but %llu bytes of data follow it",
                          (unsigned long long)st->data_len);
    }
    const us_st_tensor **order = malloc(n * sizeof *order);
    if (!order) return us_err_set(err, US_ENOMEM, st->name, 0, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) order[i] = &st->tensors[i];
    qsort(order, n, sizeof *order, by_range);
    us_status rc = US_OK;
    uint64_t at = 0;
    const us_st_tensor *prev = NULL;
    for (size_t i = 0; i < n && rc == US_OK; i++) {
        const us_st_tensor *t = order[i];
        if (t->begin < at)
            rc = us_err_set(err, US_EFORMAT, st->name, 0, t->name,
                            "data_offsets [%llu, %llu] overlap those of %s [%llu, %llu]",
                            (unsigned long long)t->begin, (unsigned long long)t->end, prev->name,
                            (unsigned long long)prev->begin, (unsigned long long)prev->end);
        else if (t->begin > at)
            rc = us_err_set(err, US_EFORMAT, st->name, 0, t->name,
                            "data_offsets begin at %llu, expected %llu: bytes [%llu, %llu) of the "
                            "data section belong to no tensor",
                            (unsigned long long)t->begin, (unsigned long long)at,
                            (unsigned long long)at, (unsigned long long)t->begin);
        at = t->end;
        prev = t;
    }
    if (rc == US_OK && at != st->data_len)
        rc = us_err_set(err, US_EFORMAT, st->name, 0, NULL,
                        "the data section has %llu bytes but the tensors end at byte %llu",
                        (unsigned long long)st->data_len, (unsigned long long)at);
    free(order);
    return rc;
}

/* Parses and validates buf[0..len) as a safetensors file into one allocation. */
static us_status parse_file(const uint8_t *buf, size_t len, const char *name,
                            us_safetensors **out, us_err *err) {
    *out = NULL;
    if (len < 8)
        return us_err_set(err, US_EFORMAT, name, 0, NULL,
                          "expected at least the 8-byte header length, found a %zu-byte file",
                          len);
    uint64_t hlen = le64(buf);
    if (hlen > len - 8)
        return us_err_set(err, US_EFORMAT, name, 0, NULL,
                          "header length %llu runs past the end of the file (%zu bytes follow "
                          "the length)",
                          (unsigned long long)hlen, len - 8);
    if (hlen > US_ST_MAX_HEADER)
        return us_err_set(err, US_EFORMAT, name, 0, NULL,
                          "header length %llu: expected at most %u bytes",
                          (unsigned long long)hlen, US_ST_MAX_HEADER);
    const char *h = (const char *)buf + 8;
    if (hlen < 2)
        return us_err_set(err, US_EFORMAT, name, 0, NULL,
                          "header length %llu: expected at least 2 bytes (\"{}\")",
                          (unsigned long long)hlen);
    if (h[0] != '{')
        return us_err_set(err, US_EFORMAT, name, 0, NULL,
                          "expected a header that begins with '{', found byte 0x%02x",
                          (unsigned char)h[0]);
    /* JSON allows no raw control bytes; refusing them also keeps NULs out of names. */
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return us_err_set(err, US_EFORMAT, name, 0, NULL,
                              "header byte %zu: expected JSON text, found control byte 0x%02x",
                              i, c);
    }
    long bad = us_utf8_check(h, (size_t)hlen);
    if (bad >= 0)
        return us_err_set(err, US_EFORMAT, name, 0, NULL,
                          "header byte %ld: expected UTF-8, found an invalid sequence", bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!root)
        return us_err_set(err, US_EFORMAT, name, 0, NULL,
                          "header byte %ld: expected JSON, found a syntax error",
                          end && end >= h ? (long)(end - h) : 0L);
    us_status rc = US_OK;
    for (const char *p = end; p < h + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = us_err_set(err, US_EFORMAT, name, 0, NULL,
                            "header byte %ld: expected only spaces after the JSON object",
                            (long)(p - h));
            goto fail;
        }

    /* Count tensors, metadata pairs and string bytes, for one allocation. */
    size_t ntensors = 0, nmeta = 0, strbytes = strlen(name) + 1;
    const cJSON *meta = NULL;
    char b[96];
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0) {
            ntensors++;
            strbytes += strlen(c->string) + 1;
            continue;
        }
        if (meta) {
            rc = us_err_set(err, US_EFORMAT, name, 0, "__metadata__",
                            "expected one metadata object, found two");
            goto fail;
        }
        meta = c;
        if (!cJSON_IsObject(c)) {
            rc = us_err_set(err, US_EFORMAT, name, 0, "__metadata__",
                            "expected an object of strings, found %s", describe(c, b, sizeof b));
            goto fail;
        }
        for (const cJSON *m = c->child; m; m = m->next) {
            if (!cJSON_IsString(m)) {
                rc = us_err_set(err, US_EFORMAT, name, 0, "__metadata__",
                                "%s: expected a string, found %s", m->string,
                                describe(m, b, sizeof b));
                goto fail;
            }
            nmeta++;
            strbytes += strlen(m->string) + strlen(m->valuestring) + 2;
        }
    }
    size_t bytes = sizeof(us_safetensors) + ntensors * sizeof(us_st_tensor) +
                   2 * nmeta * sizeof(char *) + strbytes;
    us_safetensors *st = calloc(1, bytes);
    if (!st) {
        rc = us_err_set(err, US_ENOMEM, name, 0, NULL, "out of memory for %zu tensors", ntensors);
        goto fail;
    }
    st->tensors = (us_st_tensor *)(st + 1);
    st->meta = (const char **)(st->tensors + ntensors);
    char *strings = (char *)(st->meta + 2 * nmeta);
    st->name = strings;
    memcpy(strings, name, strlen(name) + 1);
    strings += strlen(name) + 1;
    st->data = buf + 8 + hlen;
    st->data_len = len - 8 - hlen;

    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) {
            for (const cJSON *m = c->child; m; m = m->next) {
                size_t kn = strlen(m->string) + 1, vn = strlen(m->valuestring) + 1;
                st->meta[2 * st->nmeta] = memcpy(strings, m->string, kn);
                st->meta[2 * st->nmeta + 1] = memcpy(strings + kn, m->valuestring, vn);
                strings += kn + vn;
                st->nmeta++;
            }
            continue;
        }
        us_st_tensor *t = &st->tensors[st->ntensors++];
        size_t kn = strlen(c->string) + 1;
        t->name = memcpy(strings, c->string, kn);
        strings += kn;
        if ((rc = parse_entry(c, t, st->data_len, st->name, err)) != US_OK) {
            free(st);
            goto fail;
        }
        t->data = st->data + t->begin;
    }
    cJSON_Delete(root);
    root = NULL;

    qsort(st->tensors, st->ntensors, sizeof *st->tensors, by_name);
    for (size_t i = 1; i < st->ntensors; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0) {
            rc = us_err_set(err, US_EFORMAT, st->name, 0, st->tensors[i].name,
                            "expected each tensor name once, found it twice in the header");
            free(st);
            return rc;
        }
    if ((rc = check_tiling(st, err)) != US_OK) {
        free(st);
        return rc;
    }
    *out = st;
    return US_OK;
fail:
    cJSON_Delete(root);
    return rc;
}

us_status us_safetensors_open_mem(const void *buf, size_t len, const char *name,
                                  us_safetensors **out, us_err *err) {
    US_ASSERT(out && (buf || len == 0));
    return parse_file(buf ? buf : "", len, name ? name : "(memory)", out, err);
}

us_status us_safetensors_open(const char *path, us_safetensors **out, us_err *err) {
    US_ASSERT(path && out);
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return us_err_set(err, errno == ENOENT ? US_ENOTFOUND : US_EIO, path, 0, NULL,
                          "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return us_err_set(err, US_EIO, path, 0, NULL, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return us_err_set(err, US_EIO, path, 0, NULL, "expected a regular file");
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return us_err_set(err, US_EIO, path, 0, NULL, "file too large to map");
    }
    size_t len = (size_t)sb.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return us_err_set(err, US_EIO, path, 0, NULL, "cannot map: %s", strerror(e));
        }
    }
    close(fd);
    us_status rc = parse_file(map ? map : "", len, path, out, err);
    if (rc != US_OK) {
        if (map) munmap(map, len);
        return rc;
    }
    (*out)->map = map;
    (*out)->map_len = len;
    return US_OK;
}

void us_safetensors_close(us_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_len);
    free(st);
}

size_t us_safetensors_count(const us_safetensors *st) { return st->ntensors; }

const us_st_tensor *us_safetensors_at(const us_safetensors *st, size_t i) {
    return i < st->ntensors ? &st->tensors[i] : NULL;
}

const us_st_tensor *us_safetensors_find(const us_safetensors *st, const char *name) {
    us_st_tensor key = {.name = name};
    return bsearch(&key, st->tensors, st->ntensors, sizeof key, by_name);
}

const char *us_safetensors_meta(const us_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

const char *us_safetensors_name(const us_safetensors *st) { return st->name; }

us_status us_safetensors_read_f32(const us_safetensors *st, const us_st_tensor *t, float *out,
                                  us_err *err) {
    const uint8_t *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case US_DT_F32:
        for (size_t i = 0; i < n; i++) out[i] = bits_to_float(le32(p + 4 * i));
        return US_OK;
    case US_DT_F16:
        for (size_t i = 0; i < n; i++) out[i] = us_f16_to_f32(le16(p + 2 * i));
        return US_OK;
    case US_DT_BF16:
        for (size_t i = 0; i < n; i++) out[i] = us_bf16_to_f32(le16(p + 2 * i));
        return US_OK;
    default:
        return us_err_set(err, US_EFORMAT, st->name, 0, t->name,
                          "expected F32, F16 or BF16 to convert to float, found %s",
                          us_dtype_name(t->dtype));
    }
}

/* ------------------------------------------------------------------------------------------
 * BERT weights
 * ---------------------------------------------------------------------------------------- */

/* Symbolic dimensions, resolved against the config. */
enum { D_NONE, D_V, D_P, D_T, D_C, D_I };

typedef struct wspec {
    const char *name; /* after the prefix, and after "encoder.layer.<l>." when layered */
    size_t field;     /* offsetof(us_bert_weights, ...) */
    int layered;      /* one per encoder layer, stacked */
    int d0, d1;       /* expected shape; d1 == D_NONE for a vector */
    int optional;
} wspec;

#define W(f) offsetof(us_bert_weights, f)
/* In block order, which is also the order of the struct's fields. */
static const wspec k_specs[] = {
    {"embeddings.word_embeddings.weight", W(word_emb), 0, D_V, D_C, 0},
    {"embeddings.position_embeddings.weight", W(pos_emb), 0, D_P, D_C, 0},
    {"embeddings.token_type_embeddings.weight", W(type_emb), 0, D_T, D_C, 0},
    {"embeddings.LayerNorm.weight", W(emb_ln_w), 0, D_C, D_NONE, 0},
    {"embeddings.LayerNorm.bias", W(emb_ln_b), 0, D_C, D_NONE, 0},
    {"attention.self.query.weight", W(wq), 1, D_C, D_C, 0},
    {"attention.self.query.bias", W(bq), 1, D_C, D_NONE, 0},
    {"attention.self.key.weight", W(wk), 1, D_C, D_C, 0},
    {"attention.self.key.bias", W(bk), 1, D_C, D_NONE, 0},
    {"attention.self.value.weight", W(wv), 1, D_C, D_C, 0},
    {"attention.self.value.bias", W(bv), 1, D_C, D_NONE, 0},
    {"attention.output.dense.weight", W(wo), 1, D_C, D_C, 0},
    {"attention.output.dense.bias", W(bo), 1, D_C, D_NONE, 0},
    {"attention.output.LayerNorm.weight", W(ln1_w), 1, D_C, D_NONE, 0},
    {"attention.output.LayerNorm.bias", W(ln1_b), 1, D_C, D_NONE, 0},
    {"intermediate.dense.weight", W(w1), 1, D_I, D_C, 0},
    {"intermediate.dense.bias", W(b1), 1, D_I, D_NONE, 0},
    {"output.dense.weight", W(w2), 1, D_C, D_I, 0},
    {"output.dense.bias", W(b2), 1, D_C, D_NONE, 0},
    {"output.LayerNorm.weight", W(ln2_w), 1, D_C, D_NONE, 0},
    {"output.LayerNorm.bias", W(ln2_b), 1, D_C, D_NONE, 0},
    {"pooler.dense.weight", W(pool_w), 0, D_C, D_C, 1},
    {"pooler.dense.bias", W(pool_b), 0, D_C, D_NONE, 1},
};
#undef W
#define N_SPECS (sizeof k_specs / sizeof k_specs[0])

static uint64_t dim_of(const us_bert_config *c, int d) {
    switch (d) {
    case D_V: return (uint64_t)c->vocab_size;
    case D_P: return (uint64_t)c->max_position_embeddings;
    case D_T: return (uint64_t)c->type_vocab_size;
    case D_C: return (uint64_t)c->hidden_size;
    case D_I: return (uint64_t)c->intermediate_size;
    default: return 0;
    }
}

/* The full name of spec s in layer l; 0 when it does not fit. */
static int spec_name(char *buf, size_t cap, const char *prefix, const wspec *s, int l) {
    int k = s->layered ? snprintf(buf, cap, "%sencoder.layer.%d.%s", prefix, l, s->name)
                       : snprintf(buf, cap, "%s%s", prefix, s->name);
    return k > 0 && (size_t)k < cap;
}

static int is_float(us_dtype dt) { return dt == US_DT_F32 || dt == US_DT_F16 || dt == US_DT_BF16; }

/* Checks one tensor of spec s against its expected shape; t may be NULL (missing). */
static us_status check_tensor(const us_safetensors *st, const us_st_tensor *t, const char *name,
                              const wspec *s, const us_bert_config *cfg, us_err *err) {
    uint64_t want[2] = {dim_of(cfg, s->d0), dim_of(cfg, s->d1)};
    int nd = s->d1 == D_NONE ? 1 : 2;
    char ws[64], fs[160];
    shape_str(want, nd, ws, sizeof ws);
    if (!t)
        return us_err_set(err, US_ENOTFOUND, st->name, 0, name,
                          "missing: expected a tensor of shape %s", ws);
    if (!is_float(t->dtype))
        return us_err_set(err, US_EFORMAT, st->name, 0, name,
                          "expected dtype F32, F16 or BF16, found %s", us_dtype_name(t->dtype));
    if (t->ndim != nd || t->shape[0] != want[0] || (nd == 2 && t->shape[1] != want[1]))
        return us_err_set(err, US_EFORMAT, st->name, 0, name, "expected shape %s, found %s", ws,
                          shape_str(t->shape, t->ndim, fs, sizeof fs));
    return US_OK;
}

/* embeddings.position_ids, when present, must be the I64 sequence 0..P-1 (the encoder assumes
 * token t sits at position t). */
static us_status check_position_ids(const us_safetensors *st, const us_st_tensor *t,
                                    const us_bert_config *cfg, us_err *err) {
    uint64_t p = (uint64_t)cfg->max_position_embeddings;
    char fs[160];
    if (t->dtype != US_DT_I64)
        return us_err_set(err, US_EFORMAT, st->name, 0, t->name, "expected dtype I64, found %s",
                          us_dtype_name(t->dtype));
    int ok = (t->ndim == 1 && t->shape[0] == p) ||
             (t->ndim == 2 && t->shape[0] == 1 && t->shape[1] == p);
    if (!ok)
        return us_err_set(err, US_EFORMAT, st->name, 0, t->name,
                          "expected shape [1, %llu] or [%llu], found %s", (unsigned long long)p,
                          (unsigned long long)p, shape_str(t->shape, t->ndim, fs, sizeof fs));
    for (uint64_t i = 0; i < p; i++) {
        uint64_t v = le64(t->data + 8 * i);
        if (v != i)
            return us_err_set(err, US_EFORMAT, st->name, 0, t->name,
                              "expected the positions 0, 1, ..., %llu; found %lld at index %llu",
                              (unsigned long long)(p - 1), (long long)v, (unsigned long long)i);
    }
    return US_OK;
}

/* No tensor of a layer past the last one that config.json declares. */
static us_status check_no_extra_layer(const us_safetensors *st, const char *prefix,
                                      const us_bert_config *cfg, us_err *err) {
    char head[64];
    snprintf(head, sizeof head, "%sencoder.layer.", prefix);
    size_t hn = strlen(head);
    for (size_t i = 0; i < st->ntensors; i++) {
        const char *nm = st->tensors[i].name;
        if (strncmp(nm, head, hn) != 0) continue;
        uint64_t l = 0;
        const char *p = nm + hn;
        while (*p >= '0' && *p <= '9' && l <= (uint64_t)INT_MAX)
            l = 10 * l + (uint64_t)(*p++ - '0');
        if (p > nm + hn && l >= (uint64_t)cfg->num_hidden_layers)
            return us_err_set(err, US_EFORMAT, st->name, 0, nm,
                              "a tensor of layer %llu, expected layers 0 to %d "
                              "(num_hidden_layers = %d in config.json)",
                              (unsigned long long)l, cfg->num_hidden_layers - 1,
                              cfg->num_hidden_layers);
    }
    return US_OK;
}

us_status us_bert_weights_init(us_bert_weights *w, const us_safetensors *st,
                               const us_bert_config *cfg, us_err *err) {
    US_ASSERT(w && st && cfg);
    memset(w, 0, sizeof *w);
    const char *prefix = "";
    if (!us_safetensors_find(st, "embeddings.word_embeddings.weight") &&
        us_safetensors_find(st, "bert.embeddings.word_embeddings.weight"))
        prefix = "bert.";
    char name[192];
    int L = cfg->num_hidden_layers;
    uint64_t total = 0;
    int have_opt = 0, n_opt = 0;
    us_status rc;

    /* Pass 1: every tensor present with its shape; count the floats. */
    for (size_t s = 0; s < N_SPECS; s++) {
        const wspec *sp = &k_specs[s];
        for (int l = 0; l < (sp->layered ? L : 1); l++) {
            if (!spec_name(name, sizeof name, prefix, sp, l))
                return us_err_set(err, US_EINVAL, st->name, 0, NULL, "tensor name too long");
            const us_st_tensor *t = us_safetensors_find(st, name);
            if (sp->optional) {
                n_opt++;
                if (!t) continue;
                have_opt++;
            }
            if ((rc = check_tensor(st, t, name, sp, cfg, err)) != US_OK) return rc;
            total += t->numel;
        }
    }
    if (have_opt != 0 && have_opt != n_opt)
        return us_err_set(err, US_EFORMAT, st->name, 0, "pooler.dense",
                          "expected both pooler.dense.weight and pooler.dense.bias or neither, "
                          "found one");
    snprintf(name, sizeof name, "%sembeddings.position_ids", prefix);
    const us_st_tensor *pos = us_safetensors_find(st, name);
    if (pos && (rc = check_position_ids(st, pos, cfg, err)) != US_OK) return rc;
    if ((rc = check_no_extra_layer(st, prefix, cfg, err)) != US_OK) return rc;

    /* Pass 2: one block, tensors in spec order, layers stacked. */
    if (total > (SIZE_MAX - 64) / sizeof(float))
        return us_err_set(err, US_ENOMEM, st->name, 0, NULL, "%llu floats do not fit in memory",
                          (unsigned long long)total);
    size_t bytes = ((size_t)total * sizeof(float) + 63) / 64 * 64;
    float *block = aligned_alloc(64, bytes);
    if (!block)
        return us_err_set(err, US_ENOMEM, st->name, 0, NULL,
                          "out of memory for %llu floats of weights", (unsigned long long)total);
    size_t at = 0;
    for (size_t s = 0; s < N_SPECS; s++) {
        const wspec *sp = &k_specs[s];
        float **field = (float **)((char *)w + sp->field);
        for (int l = 0; l < (sp->layered ? L : 1); l++) {
            spec_name(name, sizeof name, prefix, sp, l);
            const us_st_tensor *t = us_safetensors_find(st, name);
            if (!t) break; /* an absent optional pair: its field stays NULL */
            if (l == 0) *field = block + at;
            rc = us_safetensors_read_f32(st, t, block + at, err);
            /* A NaN or an infinity in one weight would make every embedding NaN. */
            for (size_t i = 0; rc == US_OK && i < (size_t)t->numel; i++)
                if (!isfinite(block[at + i]))
                    rc = us_err_set(err, US_EFORMAT, st->name, 0, name,
                                    "expected finite weights, found %s at index %zu",
                                    isnan(block[at + i]) ? "nan" : "inf", i);
            if (rc != US_OK) {
                free(block);
                memset(w, 0, sizeof *w);
                return rc;
            }
            at += (size_t)t->numel;
        }
    }
    US_ASSERT(at == (size_t)total);
    w->block = block;
    w->nfloats = (size_t)total;
    w->has_pooler = have_opt == n_opt;
    w->has_position_ids = pos != NULL;
    return US_OK;
}

void us_bert_weights_free(us_bert_weights *w) {
    if (!w) return;
    free(w->block);
    memset(w, 0, sizeof *w);
}

us_status us_bert_model_load(const char *dir, us_bert_config *cfg, us_bert_weights *w,
                             us_err *err) {
    memset(w, 0, sizeof *w);
    us_status rc = us_bert_dir_config(dir, cfg, err);
    if (rc != US_OK) return rc;
    char path[MF_PATH];
    if (!join(path, sizeof path, dir, "model.safetensors"))
        return us_err_set(err, US_EINVAL, dir, 0, NULL, "path too long");
    us_safetensors *st;
    if ((rc = us_safetensors_open(path, &st, err)) != US_OK) return rc;
    rc = us_bert_weights_init(w, st, cfg, err);
    us_safetensors_close(st);
    return rc;
}
