/* test_bert.c — the sentence encoder and the hashed embedder.
 *
 * Without any download: a tiny random BERT (L 2, C 8, H 2, I 16, V 48, P 16) that each test
 * writes as a sentence-transformers directory (the tokenizer is the 44-token
 * tests/fixtures/tokenizer/mini_vocab.txt), checked against a plain double-precision forward
 * written below from the equations, for batching invariance, F16 weights, and errors that
 * name the file and the tensor. With the real all-MiniLM-L6-v2 in models/ (make models;
 * USERSIM_MODEL_DIR points elsewhere): token ids and embeddings against
 * tests/fixtures/bert/minilm_reference.tsv (sentence-transformers on PyTorch, written by
 * make_bert_fixture.py beside it), meaning, and batching; those cases skip, saying why, when
 * the model is not installed. The embed stage replacing another embedder's vectors (and
 * keeping them when it fails halfway) runs here too, over the tiny BERT. OpenBLAS is pinned to
 * one thread wherever bits are compared.
 */
#include <cblas.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "simulator/embed/bert.h"
#include "tests/store.h"
#include "tests/test.h"

#define FIXTURE "tests/fixtures/bert/minilm_reference.tsv"
#define MINI_VOCAB "tests/fixtures/tokenizer/mini_vocab.txt"

/* ------------------------------------------------------------------------------------------
 * The tiny model, written as a model directory
 * ---------------------------------------------------------------------------------------- */

enum { TL = 2, TC = 8, TH = 2, TI = 16, TV = 48, TP = 16, TSEQ = 12 };

typedef struct tiny_tensor {
    const char *name; /* after "encoder.layer.<l>." when layered */
    int layered;
    int rows, cols; /* cols 0: a vector */
    int kind;       /* 0 random weights, 1 a LayerNorm gain (near 1), 2 a bias (small) */
} tiny_tensor;

static const tiny_tensor k_tensors[] = {
    {"embeddings.word_embeddings.weight", 0, TV, TC, 0},
    {"embeddings.position_embeddings.weight", 0, TP, TC, 0},
    {"embeddings.token_type_embeddings.weight", 0, 2, TC, 0},
    {"embeddings.LayerNorm.weight", 0, TC, 0, 1},
    {"embeddings.LayerNorm.bias", 0, TC, 0, 2},
    {"attention.self.query.weight", 1, TC, TC, 0},
    {"attention.self.query.bias", 1, TC, 0, 2},
    {"attention.self.key.weight", 1, TC, TC, 0},
    {"attention.self.key.bias", 1, TC, 0, 2},
    {"attention.self.value.weight", 1, TC, TC, 0},
    {"attention.self.value.bias", 1, TC, 0, 2},
    {"attention.output.dense.weight", 1, TC, TC, 0},
    {"attention.output.dense.bias", 1, TC, 0, 2},
    {"attention.output.LayerNorm.weight", 1, TC, 0, 1},
    {"attention.output.LayerNorm.bias", 1, TC, 0, 2},
    {"intermediate.dense.weight", 1, TI, TC, 0},
    {"intermediate.dense.bias", 1, TI, 0, 2},
    {"output.dense.weight", 1, TC, TI, 0},
    {"output.dense.bias", 1, TC, 0, 2},
    {"output.LayerNorm.weight", 1, TC, 0, 1},
    {"output.LayerNorm.bias", 1, TC, 0, 2},
};
#define N_TENSORS (sizeof k_tensors / sizeof k_tensors[0])

typedef struct tiny_opts {
    int f16;           /* write F16 instead of F32 */
    const char *swap;  /* a full tensor name written with its two dims swapped */
    uint64_t seed;     /* weights drawn from this seed */
} tiny_opts;

/* A weight value: a multiple of 1/64 in [-2, 2], exact in F16 (and in F32). */
static float tiny_draw(us_rng *r, int kind) {
    double z = us_rng_normal(r);
    double v = kind == 1 ? 1.0 + 0.1 * z : kind == 2 ? 0.05 * z : 0.5 * z;
    v = floor(v * 64.0 + 0.5) / 64.0;
    return (float)(v > 2.0 ? 2.0 : v < -2.0 ? -2.0 : v);
}

/* IEEE half bits of f, for values that are exactly representable (zero or a normal half). */
static uint16_t half_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if ((u & 0x7fffffff) == 0) return sign;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    return (uint16_t)(sign | (e << 10) | ((u >> 13) & 0x3ff));
}

/* Writes tmpdir/model.safetensors for opts; returns 0 on failure. */
static int write_tiny_weights(const tiny_opts *o) {
    size_t cap_hdr = 16384, cap_data = 64 * 1024;
    char *hdr = malloc(cap_hdr);
    uint8_t *data = malloc(cap_data);
    if (!hdr || !data) {
        free(hdr);
        free(data);
        return 0;
    }
    us_rng r;
    us_rng_seed(&r, o->seed, 7);
    size_t hn = (size_t)snprintf(hdr, cap_hdr, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t dn = 0;
    size_t esize = o->f16 ? 2 : 4;
    for (size_t s = 0; s < N_TENSORS; s++) {
        const tiny_tensor *tt = &k_tensors[s];
        for (int l = 0; l < (tt->layered ? TL : 1); l++) {
            char name[160];
            if (tt->layered)
                snprintf(name, sizeof name, "encoder.layer.%d.%s", l, tt->name);
            else
                snprintf(name, sizeof name, "%s", tt->name);
            size_t n = (size_t)tt->rows * (size_t)(tt->cols ? tt->cols : 1);
            int d0 = tt->rows, d1 = tt->cols;
            if (o->swap && strcmp(o->swap, name) == 0) d0 = tt->cols, d1 = tt->rows;
            char shape[48];
            if (tt->cols)
                snprintf(shape, sizeof shape, "[%d,%d]", d0, d1);
            else
                snprintf(shape, sizeof shape, "[%d]", d0);
            hn += (size_t)snprintf(hdr + hn, cap_hdr - hn,
                                   ",\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":"
                                   "[%zu,%zu]}",
                                   name, o->f16 ? "F16" : "F32", shape, dn, dn + n * esize);
            for (size_t i = 0; i < n; i++) {
                float v = tiny_draw(&r, tt->kind);
                if (o->f16) {
                    uint16_t h = half_bits(v);
                    data[dn++] = (uint8_t)h;
                    data[dn++] = (uint8_t)(h >> 8);
                } else {
                    uint32_t u;
                    memcpy(&u, &v, 4);
                    for (int k = 0; k < 4; k++) data[dn++] = (uint8_t)(u >> (8 * k));
                }
            }
        }
    }
    hn += (size_t)snprintf(hdr + hn, cap_hdr - hn, "}");
    size_t total = 8 + hn + dn;
    char *file = malloc(total);
    int ok = file != NULL;
    if (ok) {
        for (int i = 0; i < 8; i++) file[i] = (char)((uint64_t)hn >> (8 * i));
        memcpy(file + 8, hdr, hn);
        memcpy(file + 8 + hn, data, dn);
        ok = us_test_write("model.safetensors", file, (long)total) != NULL;
    }
    free(file);
    free(hdr);
    free(data);
    return ok;
}

/* Copies the file at src to tmpdir/name. */
static int copy_file(const char *src, const char *name) {
    FILE *f = fopen(src, "rb");
    if (!f) return 0;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return n > 0 && n < sizeof buf && us_test_write(name, buf, (long)n) != NULL;
}

/* A whole tiny sentence-transformers directory in tmpdir. */
static int write_tiny_dir(const tiny_opts *o) {
    const char *config =
        "{\"architectures\": [\"BertModel\"], \"hidden_act\": \"gelu\", \"hidden_size\": 8,"
        " \"intermediate_size\": 16, \"layer_norm_eps\": 1e-12, \"max_position_embeddings\": 16,"
        " \"model_type\": \"bert\", \"num_attention_heads\": 2, \"num_hidden_layers\": 2,"
        " \"type_vocab_size\": 2, \"vocab_size\": 48, \"position_embedding_type\": \"absolute\"}";
    const char *modules =
        "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\","
        " \"type\": \"sentence_transformers.models.Transformer\"},"
        " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\","
        " \"type\": \"sentence_transformers.models.Pooling\"},"
        " {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\","
        " \"type\": \"sentence_transformers.models.Normalize\"}]";
    const char *pooling =
        "{\"word_embedding_dimension\": 8, \"pooling_mode_cls_token\": false,"
        " \"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": false,"
        " \"pooling_mode_mean_sqrt_len_tokens\": false}";
    if (!us_test_write("config.json", config, -1)) return 0;
    if (!us_test_write("modules.json", modules, -1)) return 0;
    if (!us_test_write("sentence_bert_config.json",
                       "{\"max_seq_length\": 12, \"do_lower_case\": false}", -1))
        return 0;
    mkdir(us_test_path("1_Pooling"), 0700);
    if (!us_test_write("1_Pooling/config.json", pooling, -1)) return 0;
    if (!copy_file(MINI_VOCAB, "vocab.txt")) return 0;
    return write_tiny_weights(o);
}

/* ------------------------------------------------------------------------------------------
 * The reference forward: one text without padding, in double, straight from the equations
 * ---------------------------------------------------------------------------------------- */

static void ref_layernorm(double *x, const float *g, const float *b, int C, double eps) {
    double mu = 0.0, var = 0.0;
    for (int c = 0; c < C; c++) mu += x[c];
    mu /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu);
    var /= C;
    for (int c = 0; c < C; c++) x[c] = (x[c] - mu) / sqrt(var + eps) * g[c] + b[c];
}

/* y = x·Wᵀ + b for one row: x (in), W (out, in), y (out). */
static void ref_linear(double *y, const double *x, const float *W, const float *b, int in,
                       int out) {
    for (int o = 0; o < out; o++) {
        double s = b[o];
        for (int i = 0; i < in; i++) s += x[i] * W[(size_t)o * in + i];
        y[o] = s;
    }
}

/* The sentence embedding of ids[0..T) (all real tokens) into out (C). */
static void ref_forward(const us_bert_config *cfg, const us_bert_weights *w, const int32_t *ids,
                        int T, double *out) {
    enum { MT = 16, MC = 8, MI = 16 };
    const int C = cfg->hidden_size, H = cfg->num_attention_heads, FF = cfg->intermediate_size;
    const int hs = C / H;
    double x[MT][MC], q[MT][MC], k[MT][MC], v[MT][MC], a[MT][MC], h[MI], y[MC];
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < C; c++)
            x[t][c] = (double)w->word_emb[(size_t)ids[t] * C + c] + w->pos_emb[t * C + c] +
                      w->type_emb[c];
        ref_layernorm(x[t], w->emb_ln_w, w->emb_ln_b, C, cfg->layer_norm_eps);
    }
    for (int l = 0; l < cfg->num_hidden_layers; l++) {
        size_t lcc = (size_t)l * C * C, lc = (size_t)l * C, lic = (size_t)l * FF * C;
        for (int t = 0; t < T; t++) {
            ref_linear(q[t], x[t], w->wq + lcc, w->bq + lc, C, C);
            ref_linear(k[t], x[t], w->wk + lcc, w->bk + lc, C, C);
            ref_linear(v[t], x[t], w->wv + lcc, w->bv + lc, C, C);
        }
        /* a_t = Σ_t2 softmax_t2(q_t·k_t2/√hs) v_t2, head by head */
        for (int hh = 0; hh < H; hh++)
            for (int t = 0; t < T; t++) {
                double s[MT], mx = -1e300, z = 0.0;
                for (int t2 = 0; t2 < T; t2++) {
                    s[t2] = 0.0;
                    for (int d = 0; d < hs; d++) s[t2] += q[t][hh * hs + d] * k[t2][hh * hs + d];
                    s[t2] /= sqrt((double)hs);
                    if (s[t2] > mx) mx = s[t2];
                }
                for (int t2 = 0; t2 < T; t2++) z += s[t2] = exp(s[t2] - mx);
                for (int d = 0; d < hs; d++) {
                    double acc = 0.0;
                    for (int t2 = 0; t2 < T; t2++) acc += s[t2] / z * v[t2][hh * hs + d];
                    a[t][hh * hs + d] = acc;
                }
            }
        for (int t = 0; t < T; t++) {
            ref_linear(y, a[t], w->wo + lcc, w->bo + lc, C, C);
            for (int c = 0; c < C; c++) x[t][c] += y[c];
            ref_layernorm(x[t], w->ln1_w + lc, w->ln1_b + lc, C, cfg->layer_norm_eps);
            ref_linear(h, x[t], w->w1 + lic, w->b1 + (size_t)l * FF, C, FF);
            for (int i = 0; i < FF; i++) h[i] = 0.5 * h[i] * (1.0 + erf(h[i] / sqrt(2.0)));
            ref_linear(y, h, w->w2 + lic, w->b2 + lc, FF, C);
            for (int c = 0; c < C; c++) x[t][c] += y[c];
            ref_layernorm(x[t], w->ln2_w + lc, w->ln2_b + lc, C, cfg->layer_norm_eps);
        }
    }
    double nn = 0.0;
    for (int c = 0; c < C; c++) {
        out[c] = 0.0;
        for (int t = 0; t < T; t++) out[c] += x[t][c];
        out[c] /= T;
        nn += out[c] * out[c];
    }
    for (int c = 0; c < C; c++) out[c] /= sqrt(nn);
}

static double norm2(const float *v, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

static const char *const k_tiny_texts[] = {
    "the cat plays", "un affable cat", "", "play the game the cat the cat plays the cat",
    "b a",           "unaffable",      "xyz"};
#define N_TINY_TEXTS (int)(sizeof k_tiny_texts / sizeof k_tiny_texts[0])

/* ------------------------------------------------------------------------------------------
 * Tiny model tests (always run)
 * ---------------------------------------------------------------------------------------- */

TEST(bert_tiny_matches_reference_forward) {
    openblas_set_num_threads(1);
    tiny_opts o = {.seed = 11};
    REQUIRE(write_tiny_dir(&o));
    us_err e;
    us_bert_encoder *enc = NULL;
    CHECK_OK(us_bert_open(&enc, us_test_tmpdir(), &e), e);
    REQUIRE(enc != NULL);
    CHECK_EQ_INT(us_bert_dim(enc), TC);
    CHECK_EQ_INT(us_bert_config_of(enc)->max_seq_length, TSEQ);
    CHECK(us_bert_config_of(enc)->normalize == 1);
    /* The name: the folder and the first 12 hex digits of the weights' SHA-256. */
    const char *name = us_bert_name(enc), *at = strchr(name, '@');
    REQUIRE(at != NULL);
    CHECK_EQ_INT(strlen(at + 1), 12);
    CHECK_EQ_INT(strlen(us_bert_sha256(enc)), 64);
    CHECK(strncmp(at + 1, us_bert_sha256(enc), 12) == 0);
    us_bert_state *st = NULL;
    CHECK_OK(us_bert_state_init(&st, enc, 4, 0, &e), e);
    REQUIRE(st != NULL);
    CHECK_EQ_INT(us_bert_state_max_len(st), TSEQ);
    float out[N_TINY_TEXTS * TC];
    us_bert_encode(enc, st, k_tiny_texts, N_TINY_TEXTS, out);
    /* Each text against the double-precision reference on its own token ids. */
    us_bert_config cfg;
    us_bert_weights w;
    CHECK_OK(us_bert_model_load(us_test_tmpdir(), &cfg, &w, &e), e);
    double worst = 0.0;
    for (int i = 0; i < N_TINY_TEXTS; i++) {
        int32_t ids[TSEQ];
        int n = us_tokenizer_encode(us_bert_tokenizer(enc), k_tiny_texts[i],
                                    strlen(k_tiny_texts[i]), ids, NULL, TSEQ);
        double ref[TC];
        ref_forward(&cfg, &w, ids, n, ref);
        for (int c = 0; c < TC; c++) {
            double d = fabs(ref[c] - out[i * TC + c]);
            if (d > worst || isnan(d)) worst = isnan(d) ? INFINITY : d;
        }
        CHECK_NEAR(norm2(out + i * TC, TC), 1.0, 1e-6);
    }
    printf("    tiny BERT vs the double reference: max abs diff %.3g\n", worst);
    /* float32 through 2 layers of C 8: a few ulps of the O(1) values */
    CHECK(worst <= 2e-6);
    /* The longest text was cut at max_seq_length 12 tokens, [SEP] included. */
    int32_t ids[TSEQ];
    CHECK_EQ_INT(us_tokenizer_encode(us_bert_tokenizer(enc), k_tiny_texts[3],
                                     strlen(k_tiny_texts[3]), ids, NULL, TSEQ),
                 TSEQ);
    us_bert_weights_free(&w);
    us_bert_state_free(st);
    us_bert_close(enc);
}

TEST(bert_tiny_batching_and_padding_invariance) {
    openblas_set_num_threads(1);
    tiny_opts o = {.seed = 12};
    REQUIRE(write_tiny_dir(&o));
    us_err e;
    us_bert_encoder *enc = NULL;
    CHECK_OK(us_bert_open(&enc, us_test_tmpdir(), &e), e);
    REQUIRE(enc != NULL);
    us_bert_state *one = NULL, *many = NULL;
    CHECK_OK(us_bert_state_init(&one, enc, 1, 0, &e), e);
    CHECK_OK(us_bert_state_init(&many, enc, 3, 0, &e), e); /* passes of 3, 3 and 1 texts */
    REQUIRE(one && many);
    float alone[N_TINY_TEXTS * TC], batched[N_TINY_TEXTS * TC];
    us_bert_encode(enc, one, k_tiny_texts, N_TINY_TEXTS, alone);
    us_bert_encode(enc, many, k_tiny_texts, N_TINY_TEXTS, batched);
    double d = max_abs_diff(alone, batched, (size_t)N_TINY_TEXTS * TC);
    printf("    tiny BERT alone vs in padded batches: max abs diff %.3g\n", d);
    CHECK(d <= 1e-6);
    /* A row with no real token gives zeros; the forward accepts any mask pattern. */
    int32_t ids[2 * 4] = {2, 13, 3, 0, 2, 14, 15, 3};
    uint8_t mask[2 * 4] = {0, 0, 0, 0, 1, 1, 1, 1};
    float out[2 * TC];
    us_bert_forward(enc, many, ids, mask, 2, 4, out);
    for (int c = 0; c < TC; c++) CHECK(out[c] == 0.0f);
    CHECK_NEAR(norm2(out + TC, TC), 1.0, 1e-6);
    us_bert_state_free(one);
    us_bert_state_free(many);
    us_bert_close(enc);
}

TEST(bert_tiny_threads_same_bits_per_count) {
    /* The pass is cut into as many groups of whole texts as OpenBLAS has threads, each run on
     * its own worker: for a given count the bits are the same run to run, and the state's
     * threads come back when the count changes; across counts only sgemm's rounding differs.
     * OpenBLAS's count is restored after each call. 13 texts so that 2, 3 and 4 groups cut
     * at different texts, and state 2 (max_batch 2) caps the groups at 2. */
    tiny_opts o = {.seed = 13};
    REQUIRE(write_tiny_dir(&o));
    us_err e;
    us_bert_encoder *enc = NULL;
    CHECK_OK(us_bert_open(&enc, us_test_tmpdir(), &e), e);
    REQUIRE(enc != NULL);
    us_bert_state *st = NULL, *st2 = NULL;
    CHECK_OK(us_bert_state_init(&st, enc, 16, 0, &e), e);
    CHECK_OK(us_bert_state_init(&st2, enc, 2, 0, &e), e);
    REQUIRE(st && st2);
    enum { NT = 13 };
    const char *texts[NT];
    for (int i = 0; i < NT; i++) texts[i] = k_tiny_texts[(i * 3) % N_TINY_TEXTS];
    static float ref[NT * TC], a[NT * TC], b[NT * TC];
    openblas_set_num_threads(1);
    us_bert_encode(enc, st, texts, NT, ref);
    for (int th = 2; th <= 4; th++) {
        openblas_set_num_threads(th);
        us_bert_encode(enc, st, texts, NT, a);
        CHECK_EQ_INT(openblas_get_num_threads(), th);
        us_bert_encode(enc, st, texts, NT, b);
        if (memcmp(a, b, sizeof a) != 0)
            us_test_fail(t_, __FILE__, __LINE__, "%d threads: two runs differ in bits", th);
        double d = max_abs_diff(a, ref, (size_t)NT * TC);
        if (d > 1e-6)
            us_test_fail(t_, __FILE__, __LINE__, "%d threads vs 1: max abs diff %.3g", th, d);
        us_bert_encode(enc, st2, texts, NT, b);
        d = max_abs_diff(b, ref, (size_t)NT * TC);
        if (d > 1e-6)
            us_test_fail(t_, __FILE__, __LINE__, "%d threads, passes of 2: max abs diff %.3g",
                         th, d);
    }
    openblas_set_num_threads(1);
    us_bert_state_free(st);
    us_bert_state_free(st2);
    us_bert_close(enc);
}

TEST(bert_tiny_f16_weights_load_as_f32) {
    openblas_set_num_threads(1);
    /* The same values (exact in F16) stored as F32, then as F16: the same bits out. */
    tiny_opts o = {.seed = 13};
    REQUIRE(write_tiny_dir(&o));
    us_err e;
    us_bert_encoder *a = NULL, *b = NULL;
    CHECK_OK(us_bert_open(&a, us_test_tmpdir(), &e), e);
    o.f16 = 1;
    REQUIRE(write_tiny_weights(&o));
    CHECK_OK(us_bert_open(&b, us_test_tmpdir(), &e), e);
    REQUIRE(a && b);
    CHECK(strcmp(us_bert_sha256(a), us_bert_sha256(b)) != 0); /* different files */
    us_bert_state *st = NULL;
    CHECK_OK(us_bert_state_init(&st, a, 8, 0, &e), e);
    REQUIRE(st);
    float va[N_TINY_TEXTS * TC], vb[N_TINY_TEXTS * TC];
    us_bert_encode(a, st, k_tiny_texts, N_TINY_TEXTS, va);
    us_bert_encode(b, st, k_tiny_texts, N_TINY_TEXTS, vb);
    CHECK(memcmp(va, vb, sizeof va) == 0);
    us_bert_state_free(st);
    us_bert_close(a);
    us_bert_close(b);
}

TEST(bert_tiny_open_parts) {
    openblas_set_num_threads(1);
    tiny_opts o = {.seed = 14};
    REQUIRE(write_tiny_dir(&o));
    us_err e;
    us_bert_config cfg;
    us_bert_weights w;
    CHECK_OK(us_bert_model_load(us_test_tmpdir(), &cfg, &w, &e), e);
    us_tokenizer *tok = NULL;
    us_tokenizer_config tc = us_tokenizer_config_default();
    tc.max_len = cfg.max_seq_length;
    CHECK_OK(us_tokenizer_open(&tok, MINI_VOCAB, &tc, &e), e);
    us_bert_encoder *parts = NULL, *dir = NULL;
    CHECK_OK(us_bert_open_parts(&parts, &cfg, &w, tok, "tiny-test", &e), e);
    REQUIRE(parts != NULL);
    CHECK(w.block == NULL); /* ownership moved */
    CHECK_STR(us_bert_name(parts), "tiny-test");
    CHECK_STR(us_bert_sha256(parts), "");
    CHECK_OK(us_bert_open(&dir, us_test_tmpdir(), &e), e);
    REQUIRE(dir != NULL);
    us_bert_state *st = NULL;
    CHECK_OK(us_bert_state_init(&st, parts, 2, 0, &e), e);
    REQUIRE(st != NULL);
    float x[N_TINY_TEXTS * TC], y[N_TINY_TEXTS * TC];
    us_bert_encode(parts, st, k_tiny_texts, N_TINY_TEXTS, x);
    us_bert_encode(dir, st, k_tiny_texts, N_TINY_TEXTS, y);
    CHECK(memcmp(x, y, sizeof x) == 0);
    us_bert_state_free(st);
    us_bert_close(parts);
    us_bert_close(dir);
    /* A vocabulary larger than the embedding table is refused (and everything released). */
    CHECK_OK(us_bert_model_load(us_test_tmpdir(), &cfg, &w, &e), e);
    cfg.vocab_size = 40;
    CHECK_OK(us_tokenizer_open(&tok, MINI_VOCAB, &tc, &e), e);
    CHECK_ERR(us_bert_open_parts(&parts, &cfg, &w, tok, "tiny-test", &e), e, US_EFORMAT,
              "vocab_size");
    CHECK(parts == NULL);
    us_bert_state_free(NULL);
    us_bert_close(NULL);
}

TEST(bert_tiny_errors_name_file_and_tensor) {
    us_err e;
    us_bert_encoder *enc = NULL;
    /* A tensor of the wrong shape: the file, the tensor, expected and found. */
    tiny_opts o = {.seed = 15, .swap = "encoder.layer.1.intermediate.dense.weight"};
    REQUIRE(write_tiny_dir(&o));
    us_status rc = us_bert_open(&enc, us_test_tmpdir(), &e);
    CHECK_ERR(rc, e, US_EFORMAT, "model.safetensors");
    CHECK_ERR(rc, e, US_EFORMAT, "encoder.layer.1.intermediate.dense.weight");
    CHECK_ERR(rc, e, US_EFORMAT, "expected shape [16, 8], found [8, 16]");
    CHECK(enc == NULL);
    /* The embedder never falls back over a damaged model. */
    us_embedder *em = NULL;
    us_log quiet = {stderr, US_LOG_ERROR};
    CHECK_ERR(us_embedder_open(&em, us_test_tmpdir(), 4, 1, &quiet, &e), e, US_EFORMAT,
              "encoder.layer.1.intermediate.dense.weight");
    CHECK(em == NULL);
    /* Missing files: each named. */
    o.swap = NULL;
    REQUIRE(write_tiny_weights(&o));
    REQUIRE(unlink(us_test_path("vocab.txt")) == 0);
    CHECK_ERR(us_bert_open(&enc, us_test_tmpdir(), &e), e, US_ENOTFOUND, "vocab.txt");
    REQUIRE(copy_file(MINI_VOCAB, "vocab.txt"));
    REQUIRE(unlink(us_test_path("model.safetensors")) == 0);
    CHECK_ERR(us_bert_open(&enc, us_test_tmpdir(), &e), e, US_ENOTFOUND, "model.safetensors");
    CHECK(enc == NULL);
    CHECK_ERR(us_embedder_open(&em, us_test_tmpdir(), 4, 0, &quiet, &e), e, US_ENOTFOUND,
              "model.safetensors");
    CHECK(em == NULL);
    /* With fallback allowed: the hashed embedder, and a warning that names the missing file. */
    FILE *logf = fopen(us_test_path("log.txt"), "w");
    REQUIRE(logf != NULL);
    us_log log = {logf, US_LOG_INFO};
    CHECK_OK(us_embedder_open(&em, us_test_tmpdir(), 4, 1, &log, &e), e);
    fclose(logf);
    REQUIRE(em != NULL);
    CHECK(us_embedder_kind_of(em) == US_EMBEDDER_HASHED);
    CHECK_STR(us_embedder_name(em), US_HASHEMBED_NAME);
    CHECK_EQ_INT(us_embedder_dim(em), US_HASHEMBED_DIM);
    CHECK_STR(us_embedder_sha256(em), "");
    us_embedder_close(em);
    FILE *in = fopen(us_test_path("log.txt"), "r");
    REQUIRE(in != NULL);
    char line[2048] = "";
    CHECK(fgets(line, sizeof line, in) != NULL);
    fclose(in);
    CHECK(strstr(line, "model.safetensors") != NULL);
    CHECK(strstr(line, US_HASHEMBED_NAME) != NULL);
    /* A state needs room for [CLS] and [SEP]. */
    CHECK_OK(write_tiny_weights(&o) ? US_OK : US_EIO, e);
    CHECK_OK(us_bert_open(&enc, us_test_tmpdir(), &e), e);
    REQUIRE(enc != NULL);
    us_bert_state *st = NULL;
    CHECK_ERR(us_bert_state_init(&st, enc, 0, 0, &e), e, US_EINVAL, "max_batch");
    CHECK_ERR(us_bert_state_init(&st, enc, 1, 1, &e), e, US_EINVAL, "max_len");
    us_bert_close(enc);
}

/* ------------------------------------------------------------------------------------------
 * The hashed embedder
 * ---------------------------------------------------------------------------------------- */

static void hashed(float *out, const char *s) { us_hashembed(out, s, strlen(s), US_HASHEMBED_DIM); }

static double dot(const float *a, const float *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

TEST(hashembed_deterministic_normalized_and_pinned) {
    enum { D = US_HASHEMBED_DIM };
    float a[D], b[D], c[D];
    hashed(a, "Great sound quality");
    hashed(b, "great SOUND quality!!");
    CHECK(memcmp(a, b, sizeof a) == 0); /* case and punctuation do not count */
    CHECK_NEAR(norm2(a, D), 1.0, 1e-6);
    /* Empty text, spaces only, punctuation only: zeros. */
    const char *empties[] = {"", "   ", "!!! ... ???", "-"};
    for (int i = 0; i < 4; i++) {
        hashed(c, empties[i]);
        CHECK(norm2(c, D) == 0.0);
    }
    us_hashembed(c, NULL, 0, D);
    CHECK(norm2(c, D) == 0.0);
    /* Shared words and word pieces bring texts closer. */
    hashed(a, "fast delivery");
    hashed(b, "delivered fast");
    hashed(c, "sound quality");
    CHECK(dot(a, b, D) > 0.5);
    CHECK(fabs(dot(a, c, D)) < 0.2);
    CHECK(dot(a, b, D) > dot(a, c, D) + 0.3);
    /* Pinned: "hashed-ngram-v1" is fixed forever; one word of 3 characters has 1 word feature
     * and 3 + 2 + 1 n-grams of "<cat>", so the non-zero slots hold ±1 and ±1/2 (colliding
     * slots add) over a norm of sqrt(1 + 6/4). These values catch any change of the hash. */
    hashed(a, "cat");
    int nz = 0;
    double sum_abs = 0.0;
    for (int i = 0; i < D; i++) {
        nz += a[i] != 0.0f;
        sum_abs += fabs(a[i]);
    }
    CHECK(nz >= 5 && nz <= 7);
    CHECK_NEAR(norm2(a, D), 1.0, 1e-6);
    int first = -1;
    for (int i = 0; i < D && first < 0; i++)
        if (a[i] != 0.0f) first = i;
    printf("    hashed \"cat\": %d non-zero slots, first %d = %.9g, sum |v| %.9g\n", nz, first,
           first >= 0 ? a[first] : 0.0, sum_abs);
    CHECK_EQ_INT(nz, 7);
    CHECK_EQ_INT(first, 6);
    CHECK_NEAR(a[first], -0.5 / sqrt(2.5), 1e-7);
    /* A position-weighted sum pins every slot of a longer text. */
    hashed(b, "Excellent sound, late delivery");
    double wsum = 0.0;
    for (int i = 0; i < D; i++) wsum += (double)(i + 1) * b[i];
    printf("    hashed \"Excellent sound, late delivery\": sum (i+1)·v[i] = %.9g\n", wsum);
    CHECK_NEAR(wsum, 135.420332, 1e-4);
    /* The width is a parameter; any byte sequence is accepted. */
    float small[3];
    us_hashembed(small, "\xff\xfe caf\xc3\xa9 \xe2\x82", 11, 3);
    CHECK_NEAR(norm2(small, 3), 1.0, 1e-6);
    char big[600];
    memset(big, 'x', sizeof big);
    us_hashembed(a, big, sizeof big, D);
    CHECK_NEAR(norm2(a, D), 1.0, 1e-6);
}

TEST(embedder_hashed_kind) {
    us_err e;
    us_embedder *em = NULL;
    CHECK_OK(us_embedder_open(&em, NULL, 0, 0, NULL, &e), e);
    REQUIRE(em != NULL);
    CHECK(us_embedder_kind_of(em) == US_EMBEDDER_HASHED);
    const char *texts[3] = {"great sound quality", NULL, "sound quality is great"};
    float out[3 * US_HASHEMBED_DIM], ref[US_HASHEMBED_DIM];
    us_embedder_embed(em, texts, 3, out);
    hashed(ref, texts[0]);
    CHECK(memcmp(out, ref, sizeof ref) == 0);
    CHECK(norm2(out + US_HASHEMBED_DIM, US_HASHEMBED_DIM) == 0.0);
    /* Same words in another order: cosine 1 (a bag of words and pieces); zeros: cosine 0. */
    CHECK_NEAR(us_embed_cosine(out, out + 2 * US_HASHEMBED_DIM, US_HASHEMBED_DIM), 0.97, 0.03);
    CHECK(us_embed_cosine(out, out + US_HASHEMBED_DIM, US_HASHEMBED_DIM) == 0.0);
    us_embedder_close(em);
    us_embedder_close(NULL);
}

/* ------------------------------------------------------------------------------------------
 * The real all-MiniLM-L6-v2 (skipped with the reason when it is not installed)
 * ---------------------------------------------------------------------------------------- */

/* Opens the real model with a state of max_batch texts, or says why not (skip). */
static int open_minilm(us_bert_encoder **enc, us_bert_state **st, int max_batch, char *why,
                       size_t cap) {
    const char *dir = us_embed_model_dir();
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (access(path, R_OK) != 0) {
        snprintf(why, cap, "%.160s is absent: run `make models` to fetch all-MiniLM-L6-v2", path);
        return 0;
    }
    us_err e;
    if (us_bert_open(enc, dir, &e) != US_OK ||
        us_bert_state_init(st, *enc, max_batch, 0, &e) != US_OK) {
        char b[1024];
        snprintf(why, cap, "FAILED to open the installed model: %.200s",
                 us_err_str(&e, b, sizeof b));
        return -1;
    }
    return 1;
}

/* Undoes the fixture's escapes in place. */
static void unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *o++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

enum { MAX_CASES = 64, DIM = 384, MAX_IDS = 256 };

typedef struct fixture {
    int n;
    char *text[MAX_CASES];
    int n_ids[MAX_CASES];
    int32_t ids[MAX_CASES][MAX_IDS];
    float emb[MAX_CASES][DIM];
    char *buf;
} fixture;

/* Reads the fixture; returns the number of cases, or -1. */
static int read_fixture(fixture *f) {
    FILE *in = fopen(FIXTURE, "rb");
    if (!in) return -1;
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    f->buf = malloc((size_t)size + 1);
    if (!f->buf || fread(f->buf, 1, (size_t)size, in) != (size_t)size) {
        fclose(in);
        return -1;
    }
    fclose(in);
    f->buf[size] = '\0';
    f->n = 0;
    char *save = NULL;
    for (char *line = strtok_r(f->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        if (f->n == MAX_CASES) return -1;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) return -1;
        *t1 = *t2 = '\0';
        unescape(line);
        int i = f->n++;
        f->text[i] = line;
        char *p = t1 + 1, *end;
        f->n_ids[i] = 0;
        while (*p && f->n_ids[i] < MAX_IDS) {
            f->ids[i][f->n_ids[i]++] = (int32_t)strtol(p, &end, 10);
            if (end == p) return -1;
            p = end;
        }
        p = t2 + 1;
        for (int c = 0; c < DIM; c++) {
            f->emb[i][c] = strtof(p, &end);
            if (end == p) return -1;
            p = end;
        }
    }
    return f->n;
}

TEST(bert_minilm_matches_sentence_transformers) {
    openblas_set_num_threads(1);
    us_bert_encoder *enc = NULL;
    us_bert_state *st = NULL;
    char why[256];
    int ok = open_minilm(&enc, &st, 40, why, sizeof why);
    if (ok == 0) SKIP(why);
    if (ok < 0) {
        us_test_fail(t_, __FILE__, __LINE__, "%s", why);
        return;
    }
    fixture *f = calloc(1, sizeof *f);
    REQUIRE(f != NULL);
    REQUIRE(read_fixture(f) >= 30);
    CHECK_STR(us_bert_name(enc), "all-MiniLM-L6-v2@53aa51172d14");
    /* Token ids: exactly the reference's. */
    for (int i = 0; i < f->n; i++) {
        int32_t ids[MAX_IDS];
        int n = us_tokenizer_encode(us_bert_tokenizer(enc), f->text[i], strlen(f->text[i]), ids,
                                    NULL, MAX_IDS);
        int same = n == f->n_ids[i] && memcmp(ids, f->ids[i], (size_t)n * sizeof *ids) == 0;
        if (!same) us_test_fail(t_, __FILE__, __LINE__, "token ids differ for case %d", i);
    }
    /* Embeddings one text at a time (as the reference ran), then all in one padded pass. */
    float *one = malloc((size_t)f->n * DIM * sizeof(float));
    float *all = malloc((size_t)f->n * DIM * sizeof(float));
    REQUIRE(one && all);
    for (int i = 0; i < f->n; i++) {
        const char *t = f->text[i];
        us_bert_encode(enc, st, &t, 1, one + (size_t)i * DIM);
    }
    us_bert_encode(enc, st, (const char *const *)f->text, f->n, all);
    double worst_one = 0.0, worst_all = 0.0;
    int worst_case = 0;
    for (int i = 0; i < f->n; i++) {
        double d1 = max_abs_diff(one + (size_t)i * DIM, f->emb[i], DIM);
        double d2 = max_abs_diff(all + (size_t)i * DIM, f->emb[i], DIM);
        if (d1 > worst_one) worst_one = d1, worst_case = i;
        if (d2 > worst_all) worst_all = d2;
        if (d1 > 1e-4 || d2 > 1e-4)
            us_test_fail(t_, __FILE__, __LINE__, "case %d: max abs diff %.3g alone, %.3g batched",
                         i, d1, d2);
        CHECK_NEAR(norm2(one + (size_t)i * DIM, DIM), 1.0, 1e-5);
    }
    printf("    %d sentences vs sentence-transformers: max abs diff %.3g one at a time (case %d), "
           "%.3g in one padded batch of %d\n",
           f->n, worst_one, worst_case, worst_all, f->n);
    free(one);
    free(all);
    free(f->buf);
    free(f);
    us_bert_state_free(st);
    us_bert_close(enc);
}

TEST(bert_minilm_threads_match_fixture) {
    /* The fixture's texts in one pass on 2 threads (two groups of texts, each on its own
     * worker): within 1e-5 of sentence-transformers, and the same bits twice. */
    us_bert_encoder *enc = NULL;
    us_bert_state *st = NULL;
    char why[256];
    int ok = open_minilm(&enc, &st, 40, why, sizeof why);
    if (ok == 0) SKIP(why);
    if (ok < 0) {
        us_test_fail(t_, __FILE__, __LINE__, "%s", why);
        return;
    }
    fixture *f = calloc(1, sizeof *f);
    REQUIRE(f != NULL);
    REQUIRE(read_fixture(f) >= 30);
    float *a = malloc((size_t)f->n * DIM * sizeof(float));
    float *b = malloc((size_t)f->n * DIM * sizeof(float));
    REQUIRE(a && b);
    openblas_set_num_threads(2);
    us_bert_encode(enc, st, (const char *const *)f->text, f->n, a);
    us_bert_encode(enc, st, (const char *const *)f->text, f->n, b);
    openblas_set_num_threads(1);
    CHECK(memcmp(a, b, (size_t)f->n * DIM * sizeof(float)) == 0);
    double worst = 0.0;
    for (int i = 0; i < f->n; i++) {
        double d = max_abs_diff(a + (size_t)i * DIM, f->emb[i], DIM);
        if (d > worst) worst = d;
    }
    printf("    %d sentences on 2 threads vs sentence-transformers: max abs diff %.3g\n", f->n,
           worst);
    CHECK(worst <= 1e-5);
    free(a);
    free(b);
    free(f->buf);
    free(f);
    us_bert_state_free(st);
    us_bert_close(enc);
}

TEST(bert_minilm_meaning_and_batching) {
    openblas_set_num_threads(1);
    us_bert_encoder *enc = NULL;
    us_bert_state *st1 = NULL, *st8 = NULL;
    char why[256];
    int ok = open_minilm(&enc, &st1, 1, why, sizeof why);
    if (ok == 0) SKIP(why);
    if (ok < 0) {
        us_test_fail(t_, __FILE__, __LINE__, "%s", why);
        return;
    }
    us_err e;
    CHECK_OK(us_bert_state_init(&st8, enc, 8, 64, &e), e);
    REQUIRE(st8 != NULL);
    const char *texts[8] = {"great sound quality",
                            "excellent audio",
                            "late delivery",
                            "The package arrived two weeks late and the box was crushed, which "
                            "made me wonder whether anyone had checked it before shipping.",
                            "ok",
                            "",
                            "cheap plastic, broke after one use",
                            "battery lasts all day"};
    float alone[8 * DIM], batched[8 * DIM];
    for (int i = 0; i < 8; i++) us_bert_encode(enc, st1, &texts[i], 1, alone + i * DIM);
    us_bert_encode(enc, st8, texts, 8, batched);
    double d = max_abs_diff(alone, batched, 8 * DIM);
    printf("    MiniLM alone vs inside a padded batch of 8: max abs diff %.3g\n", d);
    CHECK(d <= 1e-5);
    double close = dot(alone, alone + DIM, DIM), far = dot(alone, alone + 2 * DIM, DIM);
    printf("    cos(great sound quality, excellent audio) = %.4f, "
           "cos(great sound quality, late delivery) = %.4f\n",
           close, far);
    CHECK(close > far + 0.2);
    us_bert_state_free(st1);
    us_bert_state_free(st8);
    us_bert_close(enc);
}

/* ------------------------------------------------------------------------------------------
 * The embed stage when the embedder changes (the store needs only the keyword tables)
 * ---------------------------------------------------------------------------------------- */

TEST(embed_store_replaces_another_embedders_vectors) {
    openblas_set_num_threads(1);
    tiny_opts o = {.seed = 21};
    REQUIRE(write_tiny_dir(&o));
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("k.usdb"));
    const char *tables =
        "CREATE TABLE keyword(id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE,"
        " n_items INTEGER NOT NULL);"
        "CREATE TABLE item_keyword(item INTEGER NOT NULL, side INTEGER NOT NULL,"
        " keyword INTEGER NOT NULL, PRIMARY KEY(item, side, keyword));"
        "CREATE TABLE item_profile(item INTEGER PRIMARY KEY, category TEXT,"
        " pros_text TEXT NOT NULL, cons_text TEXT NOT NULL, source TEXT NOT NULL);"
        "INSERT INTO keyword VALUES(1, 'the cat', 2), (2, 'plays', 1),"
        " (3, 'unaffable', 1), (4, 'the game', 1);"
        "INSERT INTO item_profile VALUES(0, 'a', 'the cat, plays', 'unaffable', 't'),"
        " (1, 'a', 'the game', '', 't'), (2, NULL, 'the cat', 'the game', 't');";
    REQUIRE(us_test_sql_exec(store, tables) == 0);
    us_err e;
    us_embedder *hashed_e = NULL, *tiny = NULL, *tiny2 = NULL;
    CHECK_OK(us_embedder_open(&hashed_e, NULL, 0, 0, NULL, &e), e);
    CHECK_OK(us_embedder_open(&tiny, us_test_tmpdir(), 2, 0, NULL, &e), e);
    REQUIRE(hashed_e && tiny);
    CHECK(us_embedder_kind_of(tiny) == US_EMBEDDER_BERT);
    CHECK_EQ_INT(us_embedder_dim(tiny), TC);
    us_embed_config cfg = us_embed_config_default();
    cfg.quiet = 1;
    cfg.commit_every = 1;
    us_embed_report rep;
    CHECK_OK(us_embed_store(store, hashed_e, &cfg, &rep, &e), e);
    CHECK_EQ_INT(rep.keywords_embedded + rep.item_texts_embedded, 4 + 6);
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT COUNT(*) FROM item_vec WHERE length(vec) = 1536"), 6);

    /* The BERT fails halfway (a trigger stands in for a crash): nothing of it is kept. */
    REQUIRE(us_test_sql_exec(store, "CREATE TRIGGER crash BEFORE INSERT ON item_vec WHEN"
                                    " NEW.item = 2 BEGIN SELECT RAISE(ABORT, 'simulated crash');"
                                    " END;") == 0);
    us_status st = us_embed_store(store, tiny, &cfg, &rep, &e);
    CHECK_EQ_INT(st, US_EDB);
    char b[1200];
    CHECK(strstr(us_err_str(&e, b, sizeof b), "simulated crash") != NULL);
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT COUNT(*) FROM embedder WHERE name = 'hashed-ngram-v1'"), 1);
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT COUNT(*) FROM keyword_vec WHERE length(vec) = 1536"), 4);
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT COUNT(*) FROM item_vec WHERE length(vec) = 1536"), 6);

    /* Then it goes through: every vector replaced, in the BERT's width. */
    REQUIRE(us_test_sql_exec(store, "DROP TRIGGER crash") == 0);
    CHECK_OK(us_embed_store(store, tiny, &cfg, &rep, &e), e);
    CHECK_EQ_INT(rep.replaced, 1);
    CHECK_STR(rep.previous, US_HASHEMBED_NAME);
    CHECK_EQ_INT(rep.keywords_embedded, 4);
    CHECK_EQ_INT(rep.item_texts_embedded, 6);
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT COUNT(*) FROM keyword_vec WHERE length(vec) = 32"), 4);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT COUNT(*) FROM item_vec WHERE length(vec) = 32"),
                 6);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT dim FROM embedder"), TC);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT length(model_sha256) FROM embedder"), 64);
    /* The stored keyword vector is the encoder's, as little-endian float32 (it was encoded in
     * a padded pass of 2, here alone: equal to sgemm's rounding). */
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    REQUIRE(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    REQUIRE(sqlite3_prepare_v2(db, "SELECT vec FROM keyword_vec WHERE keyword = 3", -1, &s,
                               NULL) == SQLITE_OK);
    REQUIRE(sqlite3_step(s) == SQLITE_ROW);
    float stored[TC], want[TC];
    const uint8_t *blob = sqlite3_column_blob(s, 0);
    REQUIRE(blob != NULL && sqlite3_column_bytes(s, 0) == (int)sizeof stored);
    for (int c = 0; c < TC; c++) {
        uint32_t u = (uint32_t)blob[4 * c] | (uint32_t)blob[4 * c + 1] << 8 |
                     (uint32_t)blob[4 * c + 2] << 16 | (uint32_t)blob[4 * c + 3] << 24;
        memcpy(&stored[c], &u, 4);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    const char *text = "unaffable";
    us_embedder_embed(tiny, &text, 1, want);
    CHECK(max_abs_diff(stored, want, TC) <= 1e-6);
    CHECK_NEAR(norm2(stored, TC), 1.0, 1e-6);
    /* Empty texts are zeros, whatever the embedder. */
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT COUNT(*) FROM item_vec WHERE item = 1 AND"
                                        " side = 1 AND vec = zeroblob(32)"),
                 1);

    /* The same model again: nothing to do. Another model under the same folder name (other
     * weights, so another checksum): everything again. */
    CHECK_OK(us_embed_store(store, tiny, &cfg, &rep, &e), e);
    CHECK_EQ_INT(rep.keywords_embedded + rep.item_texts_embedded, 0);
    CHECK_EQ_INT(rep.replaced, 0);
    o.seed = 22;
    REQUIRE(write_tiny_weights(&o));
    CHECK_OK(us_embedder_open(&tiny2, us_test_tmpdir(), 2, 0, NULL, &e), e);
    REQUIRE(tiny2 != NULL);
    CHECK(strcmp(us_embedder_name(tiny), us_embedder_name(tiny2)) != 0);
    CHECK_OK(us_embed_store(store, tiny2, &cfg, &rep, &e), e);
    CHECK_EQ_INT(rep.replaced, 1);
    CHECK_STR(rep.previous, us_embedder_name(tiny));
    CHECK_EQ_INT(rep.keywords_embedded + rep.item_texts_embedded, 10);
    us_embedder_close(hashed_e);
    us_embedder_close(tiny);
    us_embedder_close(tiny2);
}
