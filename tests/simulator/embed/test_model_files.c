/* test_model_files.c — the model-file readers: BERT and sentence-transformers configs, the
 * safetensors reader on files each test writes itself (a tiny BERT of 2 layers, C 8, 2 heads,
 * I 16, V 30, P 16, in F32, F16 and BF16, and one corrupt file per failure), the half-float
 * conversions, and the real all-MiniLM-L6-v2 in models/ (skipped with a reason when `make models`
 * has not been run; USERSIM_MODEL_DIR points elsewhere).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "simulator/embed/model_files.h"
#include "tests/test.h"

/* ------------------------------------------------------------------------------------------
 * Writing safetensors files
 * ---------------------------------------------------------------------------------------- */

/* Writes the 8-byte little-endian length hlen, hdr (strlen bytes) and data to tmpdir/fname. */
static const char *write_st_len(const char *fname, uint64_t hlen, const char *hdr,
                                const void *data, size_t dlen) {
    size_t hn = strlen(hdr);
    char *buf = malloc(8 + hn + dlen + 1);
    if (!buf) return NULL;
    for (int i = 0; i < 8; i++) buf[i] = (char)(hlen >> (8 * i));
    memcpy(buf + 8, hdr, hn);
    if (dlen) memcpy(buf + 8 + hn, data, dlen);
    const char *p = us_test_write(fname, buf, (long)(8 + hn + dlen));
    free(buf);
    return p;
}

static const char *write_st(const char *fname, const char *hdr, const void *data, size_t dlen) {
    return write_st_len(fname, strlen(hdr), hdr, data, dlen);
}

/* Opens a file whose header is hdr and whose data section is dlen zero bytes. */
static us_status open_hdr(const char *hdr, size_t dlen, us_safetensors **st, us_err *e) {
    static const uint8_t zeros[256];
    if (dlen > sizeof zeros) return US_EINVAL;
    const char *p = write_st("t.safetensors", hdr, zeros, dlen);
    if (!p) return US_EIO;
    return us_safetensors_open(p, st, e);
}

/* A header and data under construction. */
typedef struct stw {
    char hdr[32768];
    size_t hlen;
    uint8_t data[65536];
    size_t dlen;
} stw;

static void stw_add(stw *w, const char *name, const char *dtype, int nd, const uint64_t *shape,
                    const void *bytes, size_t nbytes) {
    char dims[128] = "";
    size_t dn = 0;
    for (int i = 0; i < nd; i++)
        dn += (size_t)snprintf(dims + dn, sizeof dims - dn, "%s%llu", i ? "," : "",
                               (unsigned long long)shape[i]);
    w->hlen += (size_t)snprintf(w->hdr + w->hlen, sizeof w->hdr - w->hlen,
                                "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],"
                                "\"data_offsets\":[%zu,%zu]}",
                                w->hlen > 1 ? "," : "", name, dtype, dims, w->dlen,
                                w->dlen + nbytes);
    memcpy(w->data + w->dlen, bytes, nbytes);
    w->dlen += nbytes;
}

static const char *stw_save(stw *w, const char *fname) {
    snprintf(w->hdr + w->hlen, sizeof w->hdr - w->hlen, "}");
    return write_st(fname, w->hdr, w->data, w->dlen);
}

/* Half and bfloat16 bits of a float that is 0 or a normal number with few mantissa bits (the
 * test values), by truncation, which is exact for them. */
static uint16_t half_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) == 0) return sign;
    uint32_t exp = ((u >> 23) & 0xffu) - 127 + 15;
    return (uint16_t)(sign | exp << 10 | ((u >> 13) & 0x3ffu));
}

static uint16_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* ------------------------------------------------------------------------------------------
 * The tiny BERT: L 2, C 8, H 2, I 16, V 30, P 16, two token types
 * ---------------------------------------------------------------------------------------- */

enum { TL = 2, TC = 8, TH = 2, TI = 16, TV = 30, TP = 16, TT = 2 };

/* The test's own list of the tensors (the spec the loader is checked against). */
typedef struct tspec {
    const char *name; /* after "encoder.layer.<l>." when layered */
    size_t field;
    int layered;
    int rows, cols; /* cols 0: a vector */
} tspec;

#define F(x) offsetof(us_bert_weights, x)
static const tspec k_tiny[] = {
    {"embeddings.word_embeddings.weight", F(word_emb), 0, TV, TC},
    {"embeddings.position_embeddings.weight", F(pos_emb), 0, TP, TC},
    {"embeddings.token_type_embeddings.weight", F(type_emb), 0, TT, TC},
    {"embeddings.LayerNorm.weight", F(emb_ln_w), 0, TC, 0},
    {"embeddings.LayerNorm.bias", F(emb_ln_b), 0, TC, 0},
    {"attention.self.query.weight", F(wq), 1, TC, TC},
    {"attention.self.query.bias", F(bq), 1, TC, 0},
    {"attention.self.key.weight", F(wk), 1, TC, TC},
    {"attention.self.key.bias", F(bk), 1, TC, 0},
    {"attention.self.value.weight", F(wv), 1, TC, TC},
    {"attention.self.value.bias", F(bv), 1, TC, 0},
    {"attention.output.dense.weight", F(wo), 1, TC, TC},
    {"attention.output.dense.bias", F(bo), 1, TC, 0},
    {"attention.output.LayerNorm.weight", F(ln1_w), 1, TC, 0},
    {"attention.output.LayerNorm.bias", F(ln1_b), 1, TC, 0},
    {"intermediate.dense.weight", F(w1), 1, TI, TC},
    {"intermediate.dense.bias", F(b1), 1, TI, 0},
    {"output.dense.weight", F(w2), 1, TC, TI},
    {"output.dense.bias", F(b2), 1, TC, 0},
    {"output.LayerNorm.weight", F(ln2_w), 1, TC, 0},
    {"output.LayerNorm.bias", F(ln2_b), 1, TC, 0},
    {"pooler.dense.weight", F(pool_w), 0, TC, TC},
    {"pooler.dense.bias", F(pool_b), 0, TC, 0},
};
#undef F
#define N_TINY (sizeof k_tiny / sizeof k_tiny[0])
#define POOLER_FIRST (N_TINY - 2)

/* Value i of the k-th tensor written: multiples of 1/8 in [-7/8, 7/8], exact in F16 and BF16. */
static float tiny_value(int k, size_t i) {
    return (float)((int)((k * 5 + i * 3) % 15) - 7) / 8.0f;
}

typedef struct tiny_opts {
    const char *dtype;  /* "F32" (default), "F16" or "BF16" */
    const char *prefix; /* "" (default) or "bert." */
    const char *skip;   /* a full name (without prefix) left out */
    const char *swap;   /* a full name written with its two dims swapped */
    const char *as_i32; /* a full name written as I32 */
    const char *nan_in; /* a full name whose value 2 is NaN */
    int no_pooler, half_pooler, no_position_ids, bad_position_ids, extra_layer, mlm_head;
} tiny_opts;

static void tiny_name(char *buf, size_t cap, const tspec *s, int l) {
    if (s->layered)
        snprintf(buf, cap, "encoder.layer.%d.%s", l, s->name);
    else
        snprintf(buf, cap, "%s", s->name);
}

/* Writes the tiny model (tensors in reverse of block order, so that file order and block order
 * differ) to tmpdir/fname and returns its path. */
static const char *write_tiny(const char *fname, const tiny_opts *o) {
    stw *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    const char *dt = o->dtype ? o->dtype : "F32";
    const char *prefix = o->prefix ? o->prefix : "";
    w->hlen = (size_t)snprintf(w->hdr, sizeof w->hdr, "{\"__metadata__\":{\"format\":\"pt\"}");
    int k_total = 0;
    for (size_t s = 0; s < N_TINY; s++) k_total += k_tiny[s].layered ? TL : 1;
    int k = k_total;
    for (size_t s = N_TINY; s-- > 0;) {
        const tspec *sp = &k_tiny[s];
        for (int l = (sp->layered ? TL : 1) - 1; l >= 0; l--) {
            k--;
            if (s >= POOLER_FIRST && (o->no_pooler || (o->half_pooler && s == POOLER_FIRST)))
                continue;
            char base[128], name[160];
            tiny_name(base, sizeof base, sp, l);
            snprintf(name, sizeof name, "%s%s", prefix, base);
            if (o->skip && strcmp(o->skip, base) == 0) continue;
            size_t n = (size_t)sp->rows * (size_t)(sp->cols ? sp->cols : 1);
            uint8_t bytes[TV * TC * 4];
            const char *wdt = dt;
            for (size_t i = 0; i < n; i++) {
                float v = tiny_value(k, i);
                if (o->nan_in && strcmp(o->nan_in, base) == 0 && i == 2) v = NAN;
                if (o->as_i32 && strcmp(o->as_i32, base) == 0) {
                    wdt = "I32";
                    memcpy(bytes + 4 * i, &v, 4);
                } else if (strcmp(dt, "F16") == 0) {
                    uint16_t h = isnan(v) ? 0x7e00 : half_bits(v); /* half_bits: normals */
                    bytes[2 * i] = (uint8_t)h, bytes[2 * i + 1] = (uint8_t)(h >> 8);
                } else if (strcmp(dt, "BF16") == 0) {
                    uint16_t h = bf16_bits(v);
                    bytes[2 * i] = (uint8_t)h, bytes[2 * i + 1] = (uint8_t)(h >> 8);
                } else {
                    memcpy(bytes + 4 * i, &v, 4);
                }
            }
            size_t esize = strcmp(wdt, "F16") == 0 || strcmp(wdt, "BF16") == 0 ? 2 : 4;
            uint64_t shape[2] = {(uint64_t)sp->rows, (uint64_t)sp->cols};
            if (o->swap && strcmp(o->swap, base) == 0) {
                shape[0] = (uint64_t)sp->cols;
                shape[1] = (uint64_t)sp->rows;
            }
            stw_add(w, name, wdt, sp->cols ? 2 : 1, shape, bytes, n * esize);
        }
    }
    if (!o->no_position_ids) {
        uint8_t ids[TP * 8] = {0};
        for (int i = 0; i < TP; i++) ids[8 * i] = (uint8_t)i;
        if (o->bad_position_ids) ids[8 * 3] = 4, ids[8 * 4] = 3;
        char name[160];
        snprintf(name, sizeof name, "%sembeddings.position_ids", prefix);
        uint64_t shape[2] = {1, TP};
        stw_add(w, name, "I64", 2, shape, ids, sizeof ids);
    }
    if (o->extra_layer) {
        float b[TC] = {0};
        char name[160];
        snprintf(name, sizeof name, "%sencoder.layer.%d.output.dense.bias", prefix, TL);
        uint64_t shape[1] = {TC};
        stw_add(w, name, "F32", 1, shape, b, sizeof b);
    }
    if (o->mlm_head) {
        float b[TV] = {0};
        uint64_t shape[1] = {TV};
        stw_add(w, "cls.predictions.bias", "F32", 1, shape, b, sizeof b);
    }
    const char *p = stw_save(w, fname);
    free(w);
    return p;
}

/* config.json of the tiny model, with `omit` left out and `key` set to the JSON text `val`. */
static const char *write_config(const char *fname, const char *omit, const char *key,
                                const char *val) {
    static const char *const kv[][2] = {
        {"architectures", "[\"BertModel\"]"}, {"hidden_act", "\"gelu\""},
        {"hidden_size", "8"},                 {"intermediate_size", "16"},
        {"layer_norm_eps", "1e-12"},          {"max_position_embeddings", "16"},
        {"model_type", "\"bert\""},           {"num_attention_heads", "2"},
        {"num_hidden_layers", "2"},           {"type_vocab_size", "2"},
        {"vocab_size", "30"},                 {"position_embedding_type", "\"absolute\""},
    };
    char buf[2048];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\n");
    int first = 1;
    int key_done = 0;
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (omit && strcmp(omit, kv[i][0]) == 0) continue;
        const char *v = kv[i][1];
        if (key && strcmp(key, kv[i][0]) == 0) v = val, key_done = 1;
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s  \"%s\": %s", first ? "" : ",\n",
                              kv[i][0], v);
        first = 0;
    }
    if (key && !key_done)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\n  \"%s\": %s", key, val);
    snprintf(buf + n, sizeof buf - n, "\n}\n");
    return us_test_write(fname, buf, -1);
}

static const char *k_pooling_json =
    "{\"word_embedding_dimension\": 8, \"pooling_mode_cls_token\": false,"
    " \"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": false,"
    " \"pooling_mode_mean_sqrt_len_tokens\": false}";

static const char *k_modules_json =
    "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\","
    " \"type\": \"sentence_transformers.models.Transformer\"},"
    " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\","
    " \"type\": \"sentence_transformers.models.Pooling\"},"
    " {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\","
    " \"type\": \"sentence_transformers.models.Normalize\"}]";

/* A whole tiny model directory in tmpdir: config, modules, pooling, sbert config, weights. */
static int write_tiny_dir(void) {
    tiny_opts o = {0};
    if (!write_config("config.json", NULL, NULL, NULL)) return 0;
    if (!us_test_write("modules.json", k_modules_json, -1)) return 0;
    if (!us_test_write("sentence_bert_config.json",
                       "{\"max_seq_length\": 12, \"do_lower_case\": false}", -1))
        return 0;
    if (mkdir(us_test_path("1_Pooling"), 0700) != 0) return 0;
    if (!us_test_write("1_Pooling/config.json", k_pooling_json, -1)) return 0;
    return write_tiny("model.safetensors", &o) != NULL;
}

static us_bert_config tiny_config(void) {
    return (us_bert_config){.vocab_size = TV,
                            .hidden_size = TC,
                            .num_hidden_layers = TL,
                            .num_attention_heads = TH,
                            .intermediate_size = TI,
                            .max_position_embeddings = TP,
                            .type_vocab_size = TT,
                            .layer_norm_eps = 1e-12f,
                            .max_seq_length = TP};
}

/* Every tensor of w holds the values write_tiny wrote; returns the number of mismatches. */
static long tiny_mismatches(const us_bert_weights *w, int with_pooler) {
    long bad = 0;
    int k = 0;
    for (size_t s = 0; s < N_TINY; s++) {
        const tspec *sp = &k_tiny[s];
        float *base = *(float *const *)((const char *)w + sp->field);
        size_t n = (size_t)sp->rows * (size_t)(sp->cols ? sp->cols : 1);
        for (int l = 0; l < (sp->layered ? TL : 1); l++, k++) {
            if (s >= POOLER_FIRST && !with_pooler) {
                bad += base != NULL;
                continue;
            }
            if (!base) {
                bad++;
                continue;
            }
            for (size_t i = 0; i < n; i++) bad += base[(size_t)l * n + i] != tiny_value(k, i);
        }
    }
    return bad;
}

/* Floats in the tiny model, without and with the pooler. */
static size_t tiny_floats(int with_pooler) {
    size_t n = 0;
    for (size_t s = 0; s < N_TINY; s++) {
        if (s >= POOLER_FIRST && !with_pooler) continue;
        const tspec *sp = &k_tiny[s];
        n += (size_t)(sp->layered ? TL : 1) * (size_t)sp->rows * (size_t)(sp->cols ? sp->cols : 1);
    }
    return n;
}

/* ------------------------------------------------------------------------------------------
 * Half-float conversions
 * ---------------------------------------------------------------------------------------- */

TEST(model_files_f16_known_values) {
    static const struct {
        uint16_t h;
        float f;
    } cases[] = {
        {0x0000, 0.0f},          {0x3c00, 1.0f},           {0xc000, -2.0f},
        {0x3555, 0.333251953125f}, {0x7bff, 65504.0f},     {0x0400, 6.103515625e-05f},
        {0x0001, 5.9604644775390625e-08f}, {0x03ff, 6.097555160522461e-05f},
        {0x8001, -5.9604644775390625e-08f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(us_f16_to_f32(cases[i].h) == cases[i].f);
    CHECK(signbit(us_f16_to_f32(0x8000)) && us_f16_to_f32(0x8000) == 0.0f);
    CHECK(isinf(us_f16_to_f32(0x7c00)) && us_f16_to_f32(0x7c00) > 0);
    CHECK(isinf(us_f16_to_f32(0xfc00)) && us_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(us_f16_to_f32(0x7e00)) && isnan(us_f16_to_f32(0xfc01)));
}

/* Every one of the 65,536 halves against the definition, computed independently in double:
 * subnormal m * 2^-24, normal (1024 + m) * 2^(e - 25). */
TEST(model_files_f16_exhaustive) {
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t e = (h >> 10) & 31, m = h & 1023;
        double sign = (h & 0x8000) ? -1.0 : 1.0;
        float got = us_f16_to_f32((uint16_t)h);
        if (e == 31) {
            bad += m ? !isnan(got) : !(isinf(got) && (got < 0) == (sign < 0));
            continue;
        }
        double want = sign * (e == 0 ? ldexp((double)m, -24) : ldexp(1024.0 + m, (int)e - 25));
        bad += (double)got != want || (signbit(got) != 0) != (sign < 0);
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(model_files_bf16_known_values) {
    CHECK(us_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(us_bf16_to_f32(0xc049) == -3.140625f);
    CHECK(us_bf16_to_f32(0x0001) == (float)ldexp(1.0, -133));
    CHECK(us_bf16_to_f32(0x7f7f) == (float)ldexp(255.0, 120));
    CHECK(isinf(us_bf16_to_f32(0xff80)) && us_bf16_to_f32(0xff80) < 0);
    CHECK(isnan(us_bf16_to_f32(0x7fc0)));
}

/* ------------------------------------------------------------------------------------------
 * safetensors: valid files
 * ---------------------------------------------------------------------------------------- */

/* Three tensors, metadata, trailing spaces in the header, and a data section at an odd file
 * offset (so every tensor is unaligned). */
static const char *k_small_hdr =
    "{\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
    "\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"c\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]}}     ";

static void small_data(uint8_t d[40]) {
    const float a[6] = {1.5f, -2.0f, 0.25f, 3.0e-5f, -1e6f, 7.0f};
    memcpy(d, a, sizeof a);
    const uint16_t b[4] = {0x3c00, 0xc000, 0x0001, 0x7bff};
    for (int i = 0; i < 4; i++) d[24 + 2 * i] = (uint8_t)b[i], d[25 + 2 * i] = (uint8_t)(b[i] >> 8);
    memset(d + 32, 0, 8);
    d[32] = 42;
}

static void check_small(us_test_ctx *t_, const us_safetensors *st) {
    us_err e;
    us_err_clear(&e);
    CHECK_EQ_INT(us_safetensors_count(st), 3);
    CHECK_STR(us_safetensors_at(st, 0)->name, "a");
    CHECK_STR(us_safetensors_at(st, 2)->name, "c");
    CHECK(us_safetensors_at(st, 3) == NULL);
    CHECK_STR(us_safetensors_meta(st, "format"), "pt");
    CHECK_STR(us_safetensors_meta(st, "note"), "x");
    CHECK(us_safetensors_meta(st, "absent") == NULL);
    CHECK(us_safetensors_find(st, "__metadata__") == NULL);
    CHECK(us_safetensors_find(st, "d") == NULL);
    const us_st_tensor *a = us_safetensors_find(st, "a");
    REQUIRE(a != NULL);
    CHECK_EQ_INT(a->dtype, US_DT_F32);
    CHECK_EQ_INT(a->ndim, 2);
    CHECK_EQ_INT(a->shape[0], 2);
    CHECK_EQ_INT(a->shape[1], 3);
    CHECK_EQ_INT(a->numel, 6);
    CHECK_EQ_INT(a->end - a->begin, 24);
    float f[6];
    CHECK_OK(us_safetensors_read_f32(st, a, f, &e), e);
    CHECK(f[0] == 1.5f && f[1] == -2.0f && f[2] == 0.25f && f[3] == 3.0e-5f && f[4] == -1e6f &&
          f[5] == 7.0f);
    const us_st_tensor *b = us_safetensors_find(st, "b");
    REQUIRE(b != NULL);
    CHECK_EQ_INT(b->dtype, US_DT_F16);
    CHECK_OK(us_safetensors_read_f32(st, b, f, &e), e);
    CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == 5.9604644775390625e-08f && f[3] == 65504.0f);
    const us_st_tensor *c = us_safetensors_find(st, "c");
    REQUIRE(c != NULL);
    CHECK_EQ_INT(c->ndim, 0);
    CHECK_EQ_INT(c->numel, 1);
    CHECK_EQ_INT(c->data[0], 42);
    CHECK_ERR(us_safetensors_read_f32(st, c, f, &e), e, US_EFORMAT,
              "c: expected F32, F16 or BF16 to convert to float, found I64");
}

TEST(model_files_st_small_file) {
    uint8_t d[40];
    small_data(d);
    REQUIRE(strlen(k_small_hdr) % 2 == 1); /* the data section starts at an odd offset */
    const char *p = write_st("small.safetensors", k_small_hdr, d, sizeof d);
    REQUIRE(p != NULL);
    us_err e;
    us_safetensors *st = NULL;
    CHECK_OK(us_safetensors_open(p, &st, &e), e);
    REQUIRE(st != NULL);
    CHECK_STR(us_safetensors_name(st), p);
    check_small(t_, st);
    us_safetensors_close(st);
    us_safetensors_close(NULL);
}

TEST(model_files_st_open_mem) {
    size_t hn = strlen(k_small_hdr);
    uint8_t *buf = malloc(8 + hn + 40);
    REQUIRE(buf != NULL);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hn >> (8 * i));
    memcpy(buf + 8, k_small_hdr, hn);
    small_data(buf + 8 + hn);
    us_err e;
    us_safetensors *st = NULL;
    CHECK_OK(us_safetensors_open_mem(buf, 8 + hn + 40, "mem", &st, &e), e);
    if (st) check_small(t_, st);
    us_safetensors_close(st);
    /* The same bytes one short: the last tensor runs past the data section. */
    CHECK_ERR(us_safetensors_open_mem(buf, 8 + hn + 39, "mem", &st, &e), e, US_EFORMAT,
              "mem: c: data_offsets [32, 40]: expected a range inside the data section of 39");
    CHECK(st == NULL);
    free(buf);
}

TEST(model_files_st_empty_and_zero_size) {
    us_err e;
    us_safetensors *st = NULL;
    CHECK_OK(open_hdr("{}", 0, &st, &e), e);
    CHECK_EQ_INT(st ? us_safetensors_count(st) : 99, 0);
    us_safetensors_close(st);
    /* Zero-element tensors take no bytes and may sit anywhere on the tiling. */
    CHECK_OK(open_hdr("{\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"y\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[0,0]}}",
                      4, &st, &e),
             e);
    CHECK_EQ_INT(st ? us_safetensors_count(st) : 0, 3);
    const us_st_tensor *z = st ? us_safetensors_find(st, "z") : NULL;
    CHECK(z != NULL && z->numel == 0 && z->ndim == 2);
    us_safetensors_close(st);
}

/* ------------------------------------------------------------------------------------------
 * safetensors: corrupt files, one message each
 * ---------------------------------------------------------------------------------------- */

TEST(model_files_st_truncated) {
    us_err e;
    us_safetensors *st = (us_safetensors *)&e; /* must be reset to NULL on failure */
    const char *p = us_test_write("short.safetensors", "\x10\0\0\0\0", 5);
    CHECK_ERR(us_safetensors_open(p, &st, &e), e, US_EFORMAT,
              "short.safetensors: expected at least the 8-byte header length, found a 5-byte");
    CHECK(st == NULL);
    p = us_test_write("empty.safetensors", "", 0);
    CHECK_ERR(us_safetensors_open(p, &st, &e), e, US_EFORMAT, "found a 0-byte file");
    /* A file cut inside its data: the tensor's range leaves the data section. */
    uint8_t d[24] = {0};
    p = write_st("cut.safetensors",
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", d, 10);
    CHECK_ERR(us_safetensors_open(p, &st, &e), e, US_EFORMAT,
              "w: data_offsets [0, 24]: expected a range inside the data section of 10 bytes");
    /* A file cut inside its header. */
    p = write_st_len("cuthdr.safetensors", 60, "{\"w\":{\"dtype\":\"F32\"", NULL, 0);
    CHECK_ERR(us_safetensors_open(p, &st, &e), e, US_EFORMAT,
              "header length 60 runs past the end of the file (19 bytes follow the length)");
}

TEST(model_files_st_header_length) {
    us_err e;
    us_safetensors *st = NULL;
    const char *p = write_st_len("big.safetensors", (uint64_t)1 << 63, "{}", NULL, 0);
    CHECK_ERR(us_safetensors_open(p, &st, &e), e, US_EFORMAT,
              "header length 9223372036854775808 runs past the end of the file");
    p = write_st_len("zero.safetensors", 0, "{}", NULL, 0);
    CHECK_ERR(us_safetensors_open(p, &st, &e), e, US_EFORMAT,
              "header length 0: expected at least 2 bytes");
    /* Over the 100 MiB limit, inside a buffer that is large enough (calloc'd, never touched
     * past the length field). */
    size_t len = (size_t)US_ST_MAX_HEADER + 64;
    uint8_t *big = calloc(1, len);
    REQUIRE(big != NULL);
    uint64_t h = (uint64_t)US_ST_MAX_HEADER + 1;
    for (int i = 0; i < 8; i++) big[i] = (uint8_t)(h >> (8 * i));
    CHECK_ERR(us_safetensors_open_mem(big, len, "huge", &st, &e), e, US_EFORMAT,
              "huge: header length 104857601: expected at most 104857600 bytes");
    free(big);
}

TEST(model_files_st_bad_header_text) {
    us_err e;
    us_safetensors *st = NULL;
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",", 0, &st, &e), e, US_EFORMAT,
              "expected JSON, found a syntax error");
    CHECK_ERR(open_hdr("[1, 2]", 0, &st, &e), e, US_EFORMAT,
              "expected a header that begins with '{', found byte 0x5b");
    CHECK_ERR(open_hdr("{} x", 0, &st, &e), e, US_EFORMAT,
              "header byte 3: expected only spaces after the JSON object");
    CHECK_ERR(open_hdr("{\"a\x01\":{}}", 0, &st, &e), e, US_EFORMAT,
              "header byte 3: expected JSON text, found control byte 0x01");
    CHECK_ERR(open_hdr("{\"\xff\":{}}", 0, &st, &e), e, US_EFORMAT,
              "header byte 2: expected UTF-8");
    CHECK_ERR(open_hdr("{}", 4, &st, &e), e, US_EFORMAT,
              "the header has no tensors but 4 bytes of data follow it");
    CHECK_ERR(open_hdr("{\"a\":[1]}", 0, &st, &e), e, US_EFORMAT,
              "a: expected an object with dtype, shape and data_offsets, found [1]");
    CHECK_ERR(open_hdr("{\"__metadata__\":{\"format\":1}}", 0, &st, &e), e, US_EFORMAT,
              "__metadata__: format: expected a string, found 1");
    CHECK_ERR(open_hdr("{\"__metadata__\":[],\"a\":{}}", 0, &st, &e), e, US_EFORMAT,
              "__metadata__: expected an object of strings, found []");
    CHECK_ERR(open_hdr("{\"__metadata__\":{},\"__metadata__\":{}}", 0, &st, &e), e, US_EFORMAT,
              "__metadata__: expected one metadata object, found two");
    CHECK(st == NULL);
}

TEST(model_files_st_bad_dtype) {
    us_err e;
    us_safetensors *st = NULL;
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16,
                       &st, &e),
              e, US_EFORMAT, "t.safetensors: w: dtype: expected one of F64 F32 F16 BF16");
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, &st,
                       &e),
              e, US_EFORMAT, "found \"f32\"");
    CHECK_ERR(open_hdr("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, &st, &e), e,
              US_EFORMAT, "w: dtype: expected one of");
}

TEST(model_files_st_shape_size_mismatch) {
    us_err e;
    us_safetensors *st = NULL;
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
                       &st, &e),
              e, US_EFORMAT,
              "w: shape [2, 3] of F32 needs 24 bytes, found data_offsets [0, 20] (20 bytes)");
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                       &st, &e),
              e, US_EFORMAT, "shape [4] of BF16 needs 8 bytes");
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                       &st, &e),
              e, US_EFORMAT, "w: shape: expected non-negative integers, found [-1]");
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                       &st, &e),
              e, US_EFORMAT, "w: shape: expected non-negative integers, found [1.5]");
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,4]}}", 4,
                       &st, &e),
              e, US_EFORMAT, "w: shape: expected an array of at most 8 non-negative integers");
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                       "\"data_offsets\":[0,1]}}",
                       1, &st, &e),
              e, US_EFORMAT, "found [1,1,1,1,1,1,1,1,1]");
    CHECK_ERR(open_hdr("{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],"
                       "\"data_offsets\":[0,8]}}",
                       8, &st, &e),
              e, US_EFORMAT,
              "w: shape [4294967296, 4294967296] of F64: expected fewer than 2^64 bytes");
}

TEST(model_files_st_offsets) {
    us_err e;
    us_safetensors *st = NULL;
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       12, &st, &e),
              e, US_EFORMAT, "b: data_offsets [4, 12] overlap those of a [0, 8]");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                       12, &st, &e),
              e, US_EFORMAT,
              "b: data_offsets begin at 8, expected 4: bytes [4, 8) of the data section belong "
              "to no tensor");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, &st,
                       &e),
              e, US_EFORMAT, "a: data_offsets begin at 4, expected 0");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, &st,
                       &e),
              e, US_EFORMAT, "the data section has 12 bytes but the tensors end at byte 8");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, &st,
                       &e),
              e, US_EFORMAT, "a: data_offsets [0, 8]: expected a range inside the data section");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, &st,
                       &e),
              e, US_EFORMAT, "a: data_offsets: expected [begin, end] with 0 <= begin <= end");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
                       &st, &e),
              e, US_EFORMAT, "found [0,4,8]");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 4,
                       &st, &e),
              e, US_EFORMAT, "a: data_offsets: expected [begin, end]");
    /* Two names for one range is an overlap too (the aliasing the format forbids). */
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                       4, &st, &e),
              e, US_EFORMAT, "overlap those of");
    CHECK(st == NULL);
}

TEST(model_files_st_duplicate_name) {
    us_err e;
    us_safetensors *st = NULL;
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, &st, &e),
              e, US_EFORMAT, "a: expected each tensor name once, found it twice");
}

TEST(model_files_st_not_a_file) {
    us_err e;
    us_safetensors *st = NULL;
    CHECK_ERR(us_safetensors_open(us_test_path("absent.safetensors"), &st, &e), e, US_ENOTFOUND,
              "absent.safetensors: cannot open");
    CHECK_ERR(us_safetensors_open(us_test_tmpdir(), &st, &e), e, US_EIO,
              "expected a regular file");
}

/* ------------------------------------------------------------------------------------------
 * Configuration files
 * ---------------------------------------------------------------------------------------- */

TEST(model_files_config_ok) {
    us_err e;
    us_bert_config c;
    const char *p = write_config("config.json", NULL, NULL, NULL);
    REQUIRE(p != NULL);
    CHECK_OK(us_bert_config_read(p, &c, &e), e);
    CHECK_EQ_INT(c.vocab_size, TV);
    CHECK_EQ_INT(c.hidden_size, TC);
    CHECK_EQ_INT(c.num_hidden_layers, TL);
    CHECK_EQ_INT(c.num_attention_heads, TH);
    CHECK_EQ_INT(c.intermediate_size, TI);
    CHECK_EQ_INT(c.max_position_embeddings, TP);
    CHECK_EQ_INT(c.type_vocab_size, TT);
    CHECK(c.layer_norm_eps == 1e-12f);
    CHECK_EQ_INT(c.max_seq_length, TP);
    CHECK_EQ_INT(c.pooling, US_BERT_POOL_MEAN);
    CHECK_EQ_INT(c.normalize, 0);
    /* position_embedding_type is optional; unknown fields are ignored. */
    p = write_config("config.json", "position_embedding_type", "use_cache", "true");
    CHECK_OK(us_bert_config_read(p, &c, &e), e);
}

TEST(model_files_config_missing_field) {
    static const char *const required[] = {
        "hidden_size",       "num_hidden_layers",       "num_attention_heads",
        "intermediate_size", "vocab_size",              "max_position_embeddings",
        "type_vocab_size",   "layer_norm_eps",          "hidden_act",
        "model_type",
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        us_err e;
        us_bert_config c;
        const char *p = write_config("config.json", required[i], NULL, NULL);
        REQUIRE(p != NULL);
        char want[160];
        snprintf(want, sizeof want, "config.json: %s: expected ", required[i]);
        CHECK_ERR(us_bert_config_read(p, &c, &e), e, US_EFORMAT, want);
        CHECK_ERR(us_bert_config_read(p, &c, &e), e, US_EFORMAT,
                  "found nothing (the field is missing)");
        CHECK_STR(e.field, required[i]);
    }
}

TEST(model_files_config_wrong_values) {
    static const struct {
        const char *key, *val, *msg;
    } cases[] = {
        {"hidden_size", "\"8\"", "config.json: hidden_size: expected a positive integer, found "
                                 "\"8\""},
        {"hidden_size", "0", "hidden_size: expected a positive integer, found 0"},
        {"hidden_size", "8.5", "hidden_size: expected a positive integer, found 8.5"},
        {"hidden_size", "null", "hidden_size: expected a positive integer, found null"},
        {"vocab_size", "1e9", "vocab_size: expected a positive integer of at most 16777216"},
        {"num_attention_heads", "3",
         "num_attention_heads: expected a divisor of hidden_size 8, found 3"},
        {"hidden_act", "\"relu\"",
         "hidden_act: expected \"gelu\" (the only activation supported), found \"relu\""},
        {"hidden_act", "\"gelu_new\"", "found \"gelu_new\""},
        {"model_type", "\"roberta\"", "model_type: expected \"bert\""},
        {"layer_norm_eps", "-1", "layer_norm_eps: expected a number in (0, 1), found -1"},
        {"layer_norm_eps", "1e-300", "layer_norm_eps: expected a number in (0, 1)"},
        {"position_embedding_type", "\"relative_key\"",
         "position_embedding_type: expected \"absolute\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        us_err e;
        us_bert_config c;
        const char *p = write_config("config.json", NULL, cases[i].key, cases[i].val);
        REQUIRE(p != NULL);
        CHECK_ERR(us_bert_config_read(p, &c, &e), e, US_EFORMAT, cases[i].msg);
    }
}

TEST(model_files_config_bad_file) {
    us_err e;
    us_bert_config c;
    const char *p = us_test_write("config.json", "{\n  \"hidden_size\": 8,\n  oops\n}\n", -1);
    CHECK_ERR(us_bert_config_read(p, &c, &e), e, US_EFORMAT, "config.json:3: expected JSON");
    p = us_test_write("config.json", "[8]", -1);
    CHECK_ERR(us_bert_config_read(p, &c, &e), e, US_EFORMAT,
              "config.json: expected a JSON object, found [8]");
    p = us_test_write("config.json", "{} {}", -1);
    CHECK_ERR(us_bert_config_read(p, &c, &e), e, US_EFORMAT,
              "expected the end of the file after the JSON value");
    CHECK_ERR(us_bert_config_read(us_test_path("none.json"), &c, &e), e, US_ENOTFOUND,
              "none.json: cannot open");
}

TEST(model_files_pooling) {
    us_err e;
    us_bert_config c = tiny_config();
    const char *p = us_test_write("pool.json", k_pooling_json, -1);
    CHECK_OK(us_bert_pooling_read(p, &c, &e), e);
    CHECK_EQ_INT(c.pooling, US_BERT_POOL_MEAN);
    p = us_test_write("pool.json",
                      "{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": false}",
                      -1);
    CHECK_ERR(us_bert_pooling_read(p, &c, &e), e, US_EFORMAT,
              "pool.json: pooling_mode_cls_token: unsupported pooling: only mean pooling");
    p = us_test_write("pool.json", "{\"pooling_mode_mean_tokens\": true,"
                                   " \"pooling_mode_lasttoken\": true}",
                      -1);
    CHECK_ERR(us_bert_pooling_read(p, &c, &e), e, US_EFORMAT,
              "pooling_mode_lasttoken: unsupported pooling");
    p = us_test_write("pool.json", "{\"pooling_mode_mean_tokens\": false}", -1);
    CHECK_ERR(us_bert_pooling_read(p, &c, &e), e, US_EFORMAT,
              "pooling_mode_mean_tokens: expected true (only mean pooling is implemented), "
              "found false");
    p = us_test_write("pool.json", "{\"word_embedding_dimension\": 8}", -1);
    CHECK_ERR(us_bert_pooling_read(p, &c, &e), e, US_EFORMAT,
              "pooling_mode_mean_tokens: expected true (only mean pooling is implemented), "
              "found nothing");
    p = us_test_write("pool.json", "{\"pooling_mode_mean_tokens\": 1}", -1);
    CHECK_ERR(us_bert_pooling_read(p, &c, &e), e, US_EFORMAT,
              "pooling_mode_mean_tokens: expected true or false, found 1");
    p = us_test_write("pool.json",
                      "{\"pooling_mode_mean_tokens\": true, \"word_embedding_dimension\": 384}",
                      -1);
    CHECK_ERR(us_bert_pooling_read(p, &c, &e), e, US_EFORMAT,
              "word_embedding_dimension: expected hidden_size 8, found 384");
}

TEST(model_files_sbert_config) {
    us_err e;
    us_bert_config c = tiny_config();
    const char *p = us_test_write("sb.json", "{\"max_seq_length\": 12, \"do_lower_case\": false}",
                                  -1);
    CHECK_OK(us_bert_sbert_read(p, &c, &e), e);
    CHECK_EQ_INT(c.max_seq_length, 12);
    p = us_test_write("sb.json", "{\"max_seq_length\": 17}", -1);
    CHECK_ERR(us_bert_sbert_read(p, &c, &e), e, US_EFORMAT,
              "sb.json: max_seq_length: expected a positive integer of at most 16, found 17");
    p = us_test_write("sb.json", "{\"do_lower_case\": true}", -1);
    CHECK_ERR(us_bert_sbert_read(p, &c, &e), e, US_EFORMAT,
              "max_seq_length: expected a positive integer, found nothing");
    CHECK_EQ_INT(c.max_seq_length, 12);
}

TEST(model_files_modules) {
    us_err e;
    us_bert_config c = tiny_config();
    char pool[64];
    const char *p = us_test_write("modules.json", k_modules_json, -1);
    CHECK_OK(us_bert_modules_read(p, &c, pool, sizeof pool, &e), e);
    CHECK_EQ_INT(c.normalize, 1);
    CHECK_STR(pool, "1_Pooling");
    p = us_test_write("modules.json",
                      "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                      " {\"path\": \"1_Pooling\","
                      " \"type\": \"sentence_transformers.models.Pooling\"},"
                      " {\"path\": \"2_Dense\", \"type\": \"sentence_transformers.models.Dense\"}]",
                      -1);
    CHECK_ERR(us_bert_modules_read(p, &c, pool, sizeof pool, &e), e, US_EFORMAT,
              "modules.json: [2].type: unsupported module: expected Transformer, Pooling or "
              "Normalize");
    p = us_test_write("modules.json",
                      "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}]",
                      -1);
    CHECK_ERR(us_bert_modules_read(p, &c, pool, sizeof pool, &e), e, US_EFORMAT,
              "expected a Transformer module followed by a Pooling module, found no Pooling");
    p = us_test_write("modules.json",
                      "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},"
                      " {\"path\": \"../x\", \"type\": \"sentence_transformers.models.Pooling\"}]",
                      -1);
    CHECK_ERR(us_bert_modules_read(p, &c, pool, sizeof pool, &e), e, US_EFORMAT,
              "[1].path: expected a folder inside the model directory, found \"../x\"");
    p = us_test_write("modules.json",
                      "[{\"path\": \"p\", \"type\": \"sentence_transformers.models.Pooling\"}]",
                      -1);
    CHECK_ERR(us_bert_modules_read(p, &c, pool, sizeof pool, &e), e, US_EFORMAT,
              "[0].type: expected the modules in the order Transformer, Pooling, Normalize");
    p = us_test_write("modules.json", "{}", -1);
    CHECK_ERR(us_bert_modules_read(p, &c, pool, sizeof pool, &e), e, US_EFORMAT,
              "expected a JSON array of modules, found {}");
}

TEST(model_files_dir_config) {
    REQUIRE(write_tiny_dir());
    us_err e;
    us_bert_config c;
    CHECK_OK(us_bert_dir_config(us_test_tmpdir(), &c, &e), e);
    CHECK_EQ_INT(c.hidden_size, TC);
    CHECK_EQ_INT(c.max_seq_length, 12);
    CHECK_EQ_INT(c.normalize, 1);
    /* Without the sentence-transformers files: sentence-transformers' defaults. */
    REQUIRE(unlink(us_test_path("modules.json")) == 0);
    REQUIRE(unlink(us_test_path("sentence_bert_config.json")) == 0);
    REQUIRE(unlink(us_test_path("1_Pooling/config.json")) == 0);
    CHECK_OK(us_bert_dir_config(us_test_tmpdir(), &c, &e), e);
    CHECK_EQ_INT(c.max_seq_length, TP);
    CHECK_EQ_INT(c.normalize, 0);
    CHECK_EQ_INT(c.pooling, US_BERT_POOL_MEAN);
    /* modules.json names a Pooling folder that is not there. */
    REQUIRE(us_test_write("modules.json", k_modules_json, -1) != NULL);
    CHECK_ERR(us_bert_dir_config(us_test_tmpdir(), &c, &e), e, US_ENOTFOUND,
              "1_Pooling/config.json: cannot open");
}

/* ------------------------------------------------------------------------------------------
 * BERT weights
 * ---------------------------------------------------------------------------------------- */

/* Writes the tiny model with options o, opens it and loads it with config c. */
static us_status load_tiny(const tiny_opts *o, const us_bert_config *c, us_bert_weights *w,
                           us_err *e) {
    memset(w, 0, sizeof *w);
    const char *p = write_tiny("model.safetensors", o);
    if (!p) return US_EIO;
    us_safetensors *st;
    us_status rc = us_safetensors_open(p, &st, e);
    if (rc != US_OK) return rc;
    rc = us_bert_weights_init(w, st, c, e);
    us_safetensors_close(st);
    return rc;
}

static void check_tiny_dtype(us_test_ctx *t_, const char *dtype) {
    us_err e;
    us_bert_weights w;
    us_bert_config c = tiny_config();
    tiny_opts o = {.dtype = dtype};
    us_status rc = load_tiny(&o, &c, &w, &e);
    CHECK_OK(rc, e);
    REQUIRE(rc == US_OK);
    CHECK_EQ_INT(w.nfloats, tiny_floats(1));
    CHECK_EQ_INT(w.has_pooler, 1);
    CHECK_EQ_INT(w.has_position_ids, 1);
    CHECK_EQ_INT(tiny_mismatches(&w, 1), 0);
    CHECK(((uintptr_t)w.block & 63) == 0);
    /* Block order is the struct's order: embeddings first, layers stacked, pooler last. */
    CHECK(w.word_emb == w.block);
    CHECK(w.pos_emb == w.word_emb + TV * TC);
    CHECK(w.wq == w.emb_ln_b + TC);
    CHECK(w.bq == w.wq + TL * TC * TC);
    CHECK(w.pool_b + TC == w.block + w.nfloats);
    us_bert_weights_free(&w);
    CHECK(w.block == NULL && w.wq == NULL);
    us_bert_weights_free(&w);
    us_bert_weights_free(NULL);
}

TEST(model_files_bert_tiny_f32) { check_tiny_dtype(t_, "F32"); }
TEST(model_files_bert_tiny_f16) { check_tiny_dtype(t_, "F16"); }
TEST(model_files_bert_tiny_bf16) { check_tiny_dtype(t_, "BF16"); }

TEST(model_files_bert_prefix_and_extras) {
    us_err e;
    us_bert_weights w;
    us_bert_config c = tiny_config();
    tiny_opts o = {.prefix = "bert.", .mlm_head = 1, .no_pooler = 1, .no_position_ids = 1};
    us_status rc = load_tiny(&o, &c, &w, &e);
    CHECK_OK(rc, e);
    REQUIRE(rc == US_OK);
    CHECK_EQ_INT(w.nfloats, tiny_floats(0));
    CHECK_EQ_INT(w.has_pooler, 0);
    CHECK_EQ_INT(w.has_position_ids, 0);
    CHECK(w.pool_w == NULL && w.pool_b == NULL);
    CHECK_EQ_INT(tiny_mismatches(&w, 0), 0);
    us_bert_weights_free(&w);
}

TEST(model_files_bert_missing_tensor) {
    us_err e;
    us_bert_weights w;
    us_bert_config c = tiny_config();
    tiny_opts o = {.skip = "encoder.layer.1.attention.self.key.bias"};
    CHECK_ERR(load_tiny(&o, &c, &w, &e), e, US_ENOTFOUND,
              "model.safetensors: encoder.layer.1.attention.self.key.bias: missing: expected a "
              "tensor of shape [8]");
    CHECK(w.block == NULL);
    tiny_opts o2 = {.skip = "embeddings.word_embeddings.weight", .prefix = "bert."};
    CHECK_ERR(load_tiny(&o2, &c, &w, &e), e, US_ENOTFOUND,
              "embeddings.word_embeddings.weight: missing: expected a tensor of shape [30, 8]");
    tiny_opts o3 = {.half_pooler = 1};
    CHECK_ERR(load_tiny(&o3, &c, &w, &e), e, US_EFORMAT,
              "pooler.dense: expected both pooler.dense.weight and pooler.dense.bias or neither");
}

TEST(model_files_bert_wrong_shape) {
    us_err e;
    us_bert_weights w;
    us_bert_config c = tiny_config();
    tiny_opts o = {.swap = "encoder.layer.0.intermediate.dense.weight"};
    CHECK_ERR(load_tiny(&o, &c, &w, &e), e, US_EFORMAT,
              "encoder.layer.0.intermediate.dense.weight: expected shape [16, 8], found [8, 16]");
    /* The file is right but config.json disagrees with it. */
    tiny_opts o2 = {0};
    c.vocab_size = 31;
    CHECK_ERR(load_tiny(&o2, &c, &w, &e), e, US_EFORMAT,
              "embeddings.word_embeddings.weight: expected shape [31, 8], found [30, 8]");
    c = tiny_config();
    c.intermediate_size = 12;
    CHECK_ERR(load_tiny(&o2, &c, &w, &e), e, US_EFORMAT,
              "encoder.layer.0.intermediate.dense.weight: expected shape [12, 8], found [16, 8]");
    c = tiny_config();
    c.num_hidden_layers = 1;
    CHECK_ERR(load_tiny(&o2, &c, &w, &e), e, US_EFORMAT,
              "a tensor of layer 1, expected layers 0 to 0 (num_hidden_layers = 1");
    c = tiny_config();
    c.num_hidden_layers = 3;
    CHECK_ERR(load_tiny(&o2, &c, &w, &e), e, US_ENOTFOUND,
              "encoder.layer.2.attention.self.query.weight: missing");
}

TEST(model_files_bert_wrong_dtype) {
    us_err e;
    us_bert_weights w;
    us_bert_config c = tiny_config();
    tiny_opts o = {.as_i32 = "encoder.layer.1.output.LayerNorm.weight"};
    CHECK_ERR(load_tiny(&o, &c, &w, &e), e, US_EFORMAT,
              "encoder.layer.1.output.LayerNorm.weight: expected dtype F32, F16 or BF16, found "
              "I32");
}

/* A weight that is NaN (a broken conversion, a diverged fine-tune) is refused by name, in
 * every float dtype, before it can turn every embedding into NaN. */
TEST(model_files_bert_nonfinite_weight) {
    us_err e;
    us_bert_weights w;
    us_bert_config c = tiny_config();
    const char *dts[] = {"F32", "F16", "BF16"};
    for (int i = 0; i < 3; i++) {
        tiny_opts o = {.dtype = dts[i], .nan_in = "encoder.layer.1.attention.self.value.weight"};
        CHECK_ERR(load_tiny(&o, &c, &w, &e), e, US_EFORMAT,
                  "model.safetensors: encoder.layer.1.attention.self.value.weight: expected "
                  "finite weights, found nan at index 2");
        CHECK(w.block == NULL);
    }
}

TEST(model_files_bert_extra_layer_and_positions) {
    us_err e;
    us_bert_weights w;
    us_bert_config c = tiny_config();
    tiny_opts o = {.extra_layer = 1};
    CHECK_ERR(load_tiny(&o, &c, &w, &e), e, US_EFORMAT,
              "encoder.layer.2.output.dense.bias: a tensor of layer 2, expected layers 0 to 1");
    tiny_opts o2 = {.bad_position_ids = 1};
    CHECK_ERR(load_tiny(&o2, &c, &w, &e), e, US_EFORMAT,
              "embeddings.position_ids: expected the positions 0, 1, ..., 15; found 4 at index 3");
}

TEST(model_files_model_load_dir) {
    REQUIRE(write_tiny_dir());
    us_err e;
    us_bert_config c;
    us_bert_weights w;
    us_status rc = us_bert_model_load(us_test_tmpdir(), &c, &w, &e);
    CHECK_OK(rc, e);
    REQUIRE(rc == US_OK);
    CHECK_EQ_INT(c.num_hidden_layers, TL);
    CHECK_EQ_INT(c.max_seq_length, 12);
    CHECK_EQ_INT(w.nfloats, tiny_floats(1));
    CHECK_EQ_INT(tiny_mismatches(&w, 1), 0);
    us_bert_weights_free(&w);
    REQUIRE(unlink(us_test_path("model.safetensors")) == 0);
    CHECK_ERR(us_bert_model_load(us_test_tmpdir(), &c, &w, &e), e, US_ENOTFOUND,
              "model.safetensors: cannot open");
    CHECK(w.block == NULL);
}

/* ------------------------------------------------------------------------------------------
 * The real all-MiniLM-L6-v2 (make models)
 * ---------------------------------------------------------------------------------------- */

#define MINILM_BYTES 90868376ull
#define MINILM_SHA256 "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
/* sha256 of the 11,408 header bytes after the length field. */
#define MINILM_HEADER_SHA256 "a1621c79b67c1aa27f5784108b97e010fa884e26b187ba5c351328d9125e10a7"

static const char *minilm_dir(void) {
    const char *d = getenv("USERSIM_MODEL_DIR");
    return d && *d ? d : "models/all-MiniLM-L6-v2";
}

/* The path of the real weights, or NULL (with why) when they are not installed. */
static const char *minilm_file(char *buf, size_t cap, char *why, size_t wcap) {
    snprintf(buf, cap, "%s/model.safetensors", minilm_dir());
    if (access(buf, R_OK) == 0) return buf;
    snprintf(why, wcap, "%s is absent: run `make models` to fetch all-MiniLM-L6-v2", buf);
    return NULL;
}

static int sha256_file(const char *path, char hex[65], uint64_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static const size_t chunk = 1 << 20;
    uint8_t *buf = malloc(chunk);
    if (!buf) {
        fclose(f);
        return 0;
    }
    us_sha256 s;
    if (us_sha256_init(&s, NULL) != US_OK) {
        free(buf);
        fclose(f);
        return 0;
    }
    size_t n;
    *size = 0;
    while ((n = fread(buf, 1, chunk, f)) > 0) {
        us_sha256_update(&s, buf, n);
        *size += n;
    }
    uint8_t d[32];
    us_sha256_final(&s, d);
    us_sha256_hex(d, hex);
    free(buf);
    fclose(f);
    return 1;
}

TEST(model_files_minilm_header) {
    char path[4200], why[256];
    if (!minilm_file(path, sizeof path, why, sizeof why)) SKIP(why);
    char hex[65];
    uint64_t size = 0;
    REQUIRE(sha256_file(path, hex, &size));
    CHECK_EQ_U64(size, MINILM_BYTES);
    CHECK_STR(hex, MINILM_SHA256);

    /* The header bytes themselves: length 11,408, then the JSON we expect. */
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    uint8_t len8[8];
    char *hdr = malloc(11408);
    int ok = hdr && fread(len8, 1, 8, f) == 8 && fread(hdr, 1, 11408, f) == 11408;
    fclose(f);
    REQUIRE(ok);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)len8[i] << (8 * i);
    CHECK_EQ_U64(hlen, 11408);
    static const char head[] = "{\"__metadata__\":{\"format\":\"pt\"},\"embeddings.position_ids\":"
                               "{\"dtype\":\"I64\",\"shape\":[1,512],\"data_offsets\":[0,4096]}";
    CHECK(memcmp(hdr, head, sizeof head - 1) == 0);
    uint8_t d[32];
    CHECK_EQ_INT(us_sha256_digest(hdr, 11408, d, NULL), US_OK);
    us_sha256_hex(d, hex);
    CHECK_STR(hex, MINILM_HEADER_SHA256);
    free(hdr);

    /* What the reader makes of it: 104 tensors, 22,713,728 values, 103 F32 and one I64, names
     * without a prefix, every one of them a tensor the BERT loader expects. */
    us_err e;
    us_safetensors *st = NULL;
    CHECK_OK(us_safetensors_open(path, &st, &e), e);
    REQUIRE(st != NULL);
    CHECK_STR(us_safetensors_meta(st, "format"), "pt");
    size_t n = us_safetensors_count(st), nf32 = 0, ni64 = 0, known = 0;
    uint64_t values = 0;
    CHECK_EQ_INT(n, 104);
    for (size_t i = 0; i < n; i++) {
        const us_st_tensor *t = us_safetensors_at(st, i);
        values += t->numel;
        nf32 += t->dtype == US_DT_F32;
        ni64 += t->dtype == US_DT_I64;
        CHECK(strncmp(t->name, "bert.", 5) != 0);
        int layer = -1;
        char rest[128] = "";
        if (sscanf(t->name, "encoder.layer.%d.%127s", &layer, rest) == 2) {
            for (size_t s = 0; s < N_TINY; s++)
                known += k_tiny[s].layered && layer >= 0 && layer < 6 &&
                         strcmp(rest, k_tiny[s].name) == 0;
        } else {
            for (size_t s = 0; s < N_TINY; s++)
                known += !k_tiny[s].layered && strcmp(t->name, k_tiny[s].name) == 0;
            known += strcmp(t->name, "embeddings.position_ids") == 0;
        }
    }
    CHECK_EQ_U64(values, 22713728);
    CHECK_EQ_INT(nf32, 103);
    CHECK_EQ_INT(ni64, 1);
    CHECK_EQ_INT(known, 104);
    const us_st_tensor *we = us_safetensors_find(st, "embeddings.word_embeddings.weight");
    REQUIRE(we != NULL);
    CHECK_EQ_INT(we->shape[0], 30522);
    CHECK_EQ_INT(we->shape[1], 384);
    CHECK_EQ_U64(we->begin, 796672);
    CHECK_EQ_U64(we->end, 47678464);
    us_safetensors_close(st);
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

TEST(model_files_minilm_weights) {
    char path[4200], why[256];
    if (!minilm_file(path, sizeof path, why, sizeof why)) SKIP(why);
    us_err e;
    us_bert_config c;
    us_bert_weights w;
    us_status rc = us_bert_model_load(minilm_dir(), &c, &w, &e);
    CHECK_OK(rc, e);
    REQUIRE(rc == US_OK && w.block != NULL);
    CHECK_EQ_INT(c.vocab_size, 30522);
    CHECK_EQ_INT(c.hidden_size, 384);
    CHECK_EQ_INT(c.num_hidden_layers, 6);
    CHECK_EQ_INT(c.num_attention_heads, 12);
    CHECK_EQ_INT(c.intermediate_size, 1536);
    CHECK_EQ_INT(c.max_position_embeddings, 512);
    CHECK_EQ_INT(c.type_vocab_size, 2);
    CHECK(c.layer_norm_eps == 1e-12f);
    CHECK_EQ_INT(c.max_seq_length, 256);
    CHECK_EQ_INT(c.pooling, US_BERT_POOL_MEAN);
    CHECK_EQ_INT(c.normalize, 1);
    /* 22,713,728 values in the file, less the 512 position ids. */
    CHECK_EQ_INT(w.nfloats, 22713216);
    CHECK_EQ_INT(w.has_pooler, 1);
    CHECK_EQ_INT(w.has_position_ids, 1);
    size_t nonfinite = 0;
    for (size_t i = 0; i < w.nfloats; i++) nonfinite += !isfinite(w.block[i]);
    CHECK_EQ_INT(nonfinite, 0);
    /* Values read from the file by an independent script (Python struct), as float bits. */
    const size_t C = 384, I = 1536;
    CHECK_EQ_U64(float_bits(w.word_emb[101 * C + 0]), 0xbc90568e);   /* [CLS], channel 0 */
    CHECK_EQ_U64(float_bits(w.word_emb[30521 * C + 383]), 0x3b95c079); /* last row, last col */
    CHECK_EQ_U64(float_bits(w.pos_emb[511 * C + 0]), 0xbcbd0000);
    CHECK_EQ_U64(float_bits(w.type_emb[1 * C + 5]), 0x3c756000);
    CHECK_EQ_U64(float_bits(w.emb_ln_w[0]), 0x3f19535e);
    CHECK_EQ_U64(float_bits(w.wq[0 * C * C + 1 * C + 2]), 0x3d9b73de); /* layer 0, out 1, in 2 */
    CHECK_EQ_U64(float_bits(w.w1[3 * I * C + 1535 * C + 383]), 0x3d259105); /* layer 3 */
    CHECK_EQ_U64(float_bits(w.ln2_b[5 * C + 383]), 0x3d876c04);             /* layer 5 */
    CHECK_EQ_U64(float_bits(w.pool_w[0]), 0xbc77e000);
    us_bert_weights_free(&w);
}
