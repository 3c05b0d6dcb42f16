/* bert.c — the BERT sentence encoder (sentence-transformers: Transformer, mean Pooling,
 * Normalize) in float32 over the kernels of core/nn.h, and the us_embedder that names which
 * embedder produced a vector.
 *
 * Inference only: no dropout (eval mode), no gradients, no attention maps kept. Only the
 * configuration sentence-transformers' all-MiniLM-L6-v2 uses is supported (absolute positions,
 * token type 0 for every token, exact GELU, post-LayerNorm, mean pooling); model_files.c refuses
 * the rest when it reads the model. The pooler (tanh on [CLS]) is never used.
 *
 * Layout of the work: a pass packs the real tokens of its texts into rows (no padding: a masked
 * token is no key of any query and is not pooled), so every dense layer is one sgemm over
 * exactly the pass's tokens. The three attention projections of a layer are one sgemm against
 * a (3C, C) matrix, wq | wk | wv stacked by rows at open time (so the output rows are already
 * the packed q | k | v that the attention reads). That copy costs 3·L·C·C floats (10.1 MiB for
 * MiniLM) on top of the weight block, which keeps its own wq, wk, wv. Attention runs within
 * each text over its own rows (nn_attention_packed_forward), with no (H, T, T) map kept.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/nn.h"
#include "simulator/embed/bert.h"

struct us_bert_encoder {
    us_bert_config cfg;
    us_bert_weights w; /* owned */
    us_tokenizer *tok; /* owned */
    float *wqkv;       /* (L, 3C, C): rows [0,C) wq, [C,2C) wk, [2C,3C) wv of each layer */
    float *bqkv;       /* (L, 3C): bq | bk | bv; points into the wqkv allocation */
    char name[128];
    char sha256[65]; /* of model.safetensors; "" for an encoder built from parts */
};

/* llama2.c's RunState: every activation of one pass, sized at init. */
struct us_bert_state {
    int max_batch, max_len; /* B and T at most */
    int ffw;                /* max(3C, I): the width of buf */
    int32_t *ids;           /* (B, T) token ids of the pass */
    uint8_t *mask;          /* (B, T) 1 = real token */
    float *x;               /* (B, T, C) the residual stream: embeddings, then each layer's out */
    float *y;               /* (B, T, C) attention output, then the feed-forward's output */
    float *buf;             /* (B, T, max(3C, I)): qkv, then the attention projection (B,T,C),
                             * then the feed-forward hidden layer (B,T,I) */
    int32_t *pid, *ppos;    /* (B·T) the real tokens packed: id and position in its text */
    int *off;               /* (B+1) text b is packed rows [off[b], off[b+1]) */
    float *att;             /* nn_attention_packed_scratch floats */
    double *acc;            /* (C) pooling accumulator */
    /* Threads (made at the first pass that uses more than one): group g of a pass, texts
     * [gb[g], gb[g+1]), runs on worker g with its own scratch; group 0 uses att and acc. */
    int nt;           /* groups the pool below was made for; 0 = none */
    us_pool *pool;    /* nt workers, or NULL */
    float *tatt;      /* (nt, attention scratch) */
    double *tacc;     /* (nt, C) */
    int *gb;          /* (nt + 1) */
    int *goff;        /* (max_batch + nt): group g's text offsets from its first row, at
                       * gb[g] + g */
    const us_bert_encoder *run_enc; /* the pass the workers run */
    float *run_out;
};

/* ------------------------------------------------------------------------------------------
 * Open and close
 * ---------------------------------------------------------------------------------------- */

us_status us_bert_open_parts(us_bert_encoder **out, const us_bert_config *cfg, us_bert_weights *w,
                             us_tokenizer *tok, const char *name, us_err *err) {
    *out = NULL;
    us_bert_weights mine = *w;
    memset(w, 0, sizeof *w);
    if (us_tokenizer_vocab_size(tok) > cfg->vocab_size) {
        us_status rc = us_err_set(err, US_EFORMAT, name, 0, "vocab_size",
                                  "expected a vocabulary of at most %d tokens (the embedding "
                                  "table's rows), found %d in vocab.txt",
                                  cfg->vocab_size, (int)us_tokenizer_vocab_size(tok));
        us_bert_weights_free(&mine);
        us_tokenizer_close(tok);
        return rc;
    }
    us_bert_encoder *enc = calloc(1, sizeof *enc);
    size_t C = (size_t)cfg->hidden_size, L = (size_t)cfg->num_hidden_layers;
    size_t nqkv = L * 3 * C * C + L * 3 * C;
    float *wqkv = enc ? malloc(nqkv * sizeof(float)) : NULL;
    if (!wqkv) {
        free(enc);
        us_bert_weights_free(&mine);
        us_tokenizer_close(tok);
        return us_err_set(err, US_ENOMEM, name, 0, NULL, "out of memory for the encoder");
    }
    enc->cfg = *cfg;
    enc->w = mine;
    enc->tok = tok;
    enc->wqkv = wqkv;
    enc->bqkv = wqkv + L * 3 * C * C;
    /* Stack each layer's projections by rows: out = x·[wq; wk; wv]ᵀ = [x·wqᵀ | x·wkᵀ | x·wvᵀ]. */
    for (size_t l = 0; l < L; l++) {
        float *W = enc->wqkv + l * 3 * C * C, *b = enc->bqkv + l * 3 * C;
        memcpy(W, mine.wq + l * C * C, C * C * sizeof(float));
        memcpy(W + C * C, mine.wk + l * C * C, C * C * sizeof(float));
        memcpy(W + 2 * C * C, mine.wv + l * C * C, C * C * sizeof(float));
        memcpy(b, mine.bq + l * C, C * sizeof(float));
        memcpy(b + C, mine.bk + l * C, C * sizeof(float));
        memcpy(b + 2 * C, mine.bv + l * C, C * sizeof(float));
    }
    snprintf(enc->name, sizeof enc->name, "%s", name ? name : "bert");
    *out = enc;
    return US_OK;
}

/* The SHA-256 of the file at path as lower-case hex into hex[65]. */
static us_status file_sha256(const char *path, char hex[65], us_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return us_err_set(err, US_EIO, path, 0, NULL, "cannot open to hash it");
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
    }
    us_sha256 s;
    us_status st = us_sha256_init(&s, err);
    if (st != US_OK) {
        free(buf);
        fclose(f);
        return st;
    }
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) us_sha256_update(&s, buf, got);
    int bad = ferror(f);
    free(buf);
    fclose(f);
    if (bad) {
        us_sha256_free(&s);
        return us_err_set(err, US_EIO, path, 0, NULL, "read error while hashing");
    }
    uint8_t d[32];
    us_sha256_final(&s, d);
    us_sha256_hex(d, hex);
    return US_OK;
}

us_status us_bert_open(us_bert_encoder **out, const char *dir, us_err *err) {
    *out = NULL;
    us_bert_config cfg;
    us_bert_weights w;
    us_status rc = us_bert_model_load(dir, &cfg, &w, err);
    if (rc != US_OK) return rc;
    char path[4096], hex[65];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = file_sha256(path, hex, err)) != US_OK) {
        us_bert_weights_free(&w);
        return rc;
    }
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    us_tokenizer_config tcfg = us_tokenizer_config_default();
    tcfg.max_len = cfg.max_seq_length;
    us_tokenizer *tok;
    if ((rc = us_tokenizer_open(&tok, path, &tcfg, err)) != US_OK) {
        us_bert_weights_free(&w);
        return rc;
    }
    /* The name: the directory's last component (trailing slashes ignored) and the hash. */
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/') start--;
    char name[128];
    int base = (int)(end - start > 100 ? 100 : end - start);
    snprintf(name, sizeof name, "%.*s@%.12s", base, dir + start, hex);
    if ((rc = us_bert_open_parts(out, &cfg, &w, tok, name, err)) != US_OK) return rc;
    memcpy((*out)->sha256, hex, sizeof hex);
    return US_OK;
}

void us_bert_close(us_bert_encoder *enc) {
    if (!enc) return;
    us_bert_weights_free(&enc->w);
    us_tokenizer_close(enc->tok);
    free(enc->wqkv);
    free(enc);
}

int us_bert_dim(const us_bert_encoder *enc) { return enc->cfg.hidden_size; }
const char *us_bert_name(const us_bert_encoder *enc) { return enc->name; }
const char *us_bert_sha256(const us_bert_encoder *enc) { return enc->sha256; }
const us_bert_config *us_bert_config_of(const us_bert_encoder *enc) { return &enc->cfg; }
const us_tokenizer *us_bert_tokenizer(const us_bert_encoder *enc) { return enc->tok; }

/* ------------------------------------------------------------------------------------------
 * State
 * ---------------------------------------------------------------------------------------- */

void us_bert_state_free(us_bert_state *st) {
    if (!st) return;
    free(st->ids);
    free(st->mask);
    free(st->x);
    free(st->y);
    free(st->buf);
    free(st->att);
    free(st->pid);
    free(st->ppos);
    free(st->off);
    us_pool_free(st->pool);
    free(st->tatt);
    free(st->tacc);
    free(st->gb);
    free(st->goff);
    free(st->acc);
    free(st);
}

us_status us_bert_state_init(us_bert_state **out, const us_bert_encoder *enc, int max_batch,
                             int max_len, us_err *err) {
    *out = NULL;
    const us_bert_config *c = &enc->cfg;
    if (max_batch < 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_batch", "expected >= 1, found %d",
                          max_batch);
    int T = max_len <= 0 || max_len > c->max_seq_length ? c->max_seq_length : max_len;
    if (T < 2) return us_err_set(err, US_EINVAL, NULL, 0, "max_len", "expected >= 2 ([CLS] [SEP])");
    us_bert_state *st = calloc(1, sizeof *st);
    if (!st) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory for the state");
    size_t C = (size_t)c->hidden_size, N = (size_t)max_batch * (size_t)T;
    st->max_batch = max_batch;
    st->max_len = T;
    st->ffw = 3 * c->hidden_size > c->intermediate_size ? 3 * c->hidden_size
                                                         : c->intermediate_size;
    /* calloc: padded rows are computed too and must start finite. */
    st->ids = calloc(N, sizeof *st->ids);
    st->mask = calloc(N, sizeof *st->mask);
    st->x = calloc(N * C, sizeof(float));
    st->y = calloc(N * C, sizeof(float));
    st->buf = calloc(N * (size_t)st->ffw, sizeof(float));
    st->att = calloc(nn_attention_packed_scratch(c->hidden_size, c->num_attention_heads, T),
                     sizeof(float));
    st->pid = calloc(N, sizeof *st->pid);
    st->ppos = calloc(N, sizeof *st->ppos);
    st->off = calloc((size_t)max_batch + 1, sizeof *st->off);
    st->acc = calloc(C, sizeof(double));
    if (!st->ids || !st->mask || !st->x || !st->y || !st->buf || !st->att || !st->acc ||
        !st->pid || !st->ppos || !st->off) {
        us_bert_state_free(st);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL,
                          "out of memory for a state of %d texts x %d tokens", max_batch, T);
    }
    *out = st;
    return US_OK;
}

int us_bert_state_max_batch(const us_bert_state *st) { return st->max_batch; }
int us_bert_state_max_len(const us_bert_state *st) { return st->max_len; }

/* ------------------------------------------------------------------------------------------
 * Forward
 * ---------------------------------------------------------------------------------------- */

/* The model on the packed texts [b0, b1) of the pass (rows [off[b0], off[b1]) of the state's
 * packed tokens), writing their vectors at out + b0·C. lo (b1 - b0 + 1) are the texts' row
 * offsets from row off[b0]; att and acc are this group's scratch. Groups touch disjoint rows of
 * x, y, buf and out, so they may run at once. */
static void forward_group(const us_bert_encoder *enc, us_bert_state *st, int b0, int b1,
                          const int *lo, float *att, double *acc, float *out) {
    const us_bert_config *cfg = &enc->cfg;
    const us_bert_weights *w = &enc->w;
    const int C = cfg->hidden_size, H = cfg->num_attention_heads, I = cfg->intermediate_size;
    const float eps = cfg->layer_norm_eps;
    const int r0 = st->off[b0], N = st->off[b1] - r0, B = b1 - b0;
    float *x = st->x + (size_t)r0 * C, *y = st->y + (size_t)r0 * C;
    float *buf = st->buf + (size_t)r0 * st->ffw;
    const int32_t *pid = st->pid + r0, *ppos = st->ppos + r0;

    if (N > 0) {
        /* Embeddings: x[n,:] = word_emb[id] + pos_emb[t] + type_emb[0], then LayerNorm. */
        for (int n = 0; n < N; n++) {
            const float *we = w->word_emb + (size_t)pid[n] * C;
            const float *pe = w->pos_emb + (size_t)ppos[n] * C;
            float *xn = x + (size_t)n * C;
            for (int c = 0; c < C; c++) xn[c] = we[c] + pe[c] + w->type_emb[c];
        }
        nn_layernorm_forward_vec(x, x, NULL, w->emb_ln_w, w->emb_ln_b, N, C, eps);
    }
    for (int l = 0; l < cfg->num_hidden_layers && N > 0; l++) {
        const size_t lcc = (size_t)l * C * C, lc = (size_t)l * C;
        const size_t lic = (size_t)l * I * C, li = (size_t)l * I;
        /* qkv = x·[wq; wk; wv]ᵀ + [bq | bk | bv]: buf (N, 3C), one sgemm over every token */
        nn_linear_forward(buf, x, enc->wqkv + 3 * lcc, enc->bqkv + 3 * lc, N, C, 3 * C);
        /* Self-attention within each text: y[n,:] = Σ_n2 softmax(q_n·k_n2/√hs)·v_n2 over the
         * rows n2 of n's text. */
        nn_attention_packed_forward(y, att, buf, lo, B, C, H, st->max_len);
        /* attention.output: x = LayerNorm(x + y·woᵀ + bo), the projection in buf (N, C); the
         * residual sum is buf + x, inside the layer norm */
        nn_linear_forward(buf, y, w->wo + lcc, w->bo + lc, N, C, C);
        nn_layernorm_forward_vec(x, buf, x, w->ln1_w + lc, w->ln1_b + lc, N, C, eps);
        /* intermediate: buf (N, I) = GELU(x·w1ᵀ + b1), exact GELU (a vectorized erf within a
         * few ulps of erff: core/nn.h) */
        nn_linear_forward(buf, x, w->w1 + lic, w->b1 + li, N, C, I);
        nn_gelu_forward_vec(buf, buf, (size_t)N * I);
        /* output: x = LayerNorm(x + buf·w2ᵀ + b2) */
        nn_linear_forward(y, buf, w->w2 + lic, w->b2 + lc, N, I, C);
        nn_layernorm_forward_vec(x, y, x, w->ln2_w + lc, w->ln2_b + lc, N, C, eps);
    }

    /* Mean pooling over the text's rows (its real tokens), summed in double:
     *   out[b,:] = Σ_n x[n,:] / count,
     * then, with a Normalize module, out[b,:] /= max(‖out[b,:]‖₂, 1e-12) (torch's normalize). */
    for (int b = 0; b < B; b++) {
        float *ob = out + (size_t)(b0 + b) * C;
        const int n0 = lo[b], cnt = lo[b + 1] - lo[b];
        if (cnt == 0) {
            memset(ob, 0, (size_t)C * sizeof(float));
            continue;
        }
        memset(acc, 0, (size_t)C * sizeof(double));
        for (int n = n0; n < n0 + cnt; n++) {
            const float *xt = x + (size_t)n * C;
            for (int c = 0; c < C; c++) acc[c] += xt[c];
        }
        for (int c = 0; c < C; c++) ob[c] = (float)(acc[c] / (double)cnt);
        if (!cfg->normalize) continue;
        double ss = 0.0;
        for (int c = 0; c < C; c++) ss += (double)ob[c] * ob[c];
        double norm = sqrt(ss);
        if (norm < 1e-12) norm = 1e-12;
        for (int c = 0; c < C; c++) ob[c] = (float)(ob[c] / norm);
    }
}

/* Group g of the pass that st->run_enc runs: the pool's work of worker g. */
static void forward_worker(void *ctx, int g) {
    us_bert_state *st = ctx;
    const size_t scr = nn_attention_packed_scratch(st->run_enc->cfg.hidden_size,
                                                   st->run_enc->cfg.num_attention_heads,
                                                   st->max_len);
    forward_group(st->run_enc, st, st->gb[g], st->gb[g + 1], st->goff + st->gb[g] + g,
                  st->tatt + (size_t)g * scr, st->tacc + (size_t)g * st->run_enc->cfg.hidden_size,
                  st->run_out);
}

/* Makes st's scratch and pool for nt groups (nt >= 2) unless it has them; 0 when out of memory
 * (the caller then runs the groups one after another: the same bits). */
static int ensure_groups(const us_bert_encoder *enc, us_bert_state *st, int nt) {
    if (st->nt == nt) return 1;
    us_pool_free(st->pool);
    free(st->tatt);
    free(st->tacc);
    free(st->gb);
    free(st->goff);
    st->pool = NULL;
    st->nt = 0;
    const size_t scr = nn_attention_packed_scratch(enc->cfg.hidden_size,
                                                   enc->cfg.num_attention_heads, st->max_len);
    st->tatt = malloc((size_t)nt * scr * sizeof(float));
    st->tacc = malloc((size_t)nt * (size_t)enc->cfg.hidden_size * sizeof(double));
    st->gb = malloc((size_t)(nt + 1) * sizeof(int));
    st->goff = malloc((size_t)(st->max_batch + nt) * sizeof(int));
    if (!st->tatt || !st->tacc || !st->gb || !st->goff) return 0;
    if (us_pool_init(&st->pool, nt, forward_worker, st, NULL) != US_OK) st->pool = NULL;
    st->nt = nt;
    return 1;
}

void us_bert_forward(const us_bert_encoder *enc, us_bert_state *st, const int32_t *ids,
                     const uint8_t *mask, int B, int T, float *out) {
    const us_bert_config *cfg = &enc->cfg;
    US_ASSERT(B >= 1 && B <= st->max_batch && T >= 1 && T <= st->max_len);

    /* Pack the real tokens: text b becomes rows [off[b], off[b+1]), in position order. A
     * masked token is no key of any query and is not pooled, so its own row would only be
     * computed to be thrown away: it is left out, and no padding reaches the dense layers. */
    int N = 0;
    for (int b = 0; b < B; b++) {
        st->off[b] = N;
        for (int t = 0; t < T; t++) {
            if (!mask[(size_t)b * T + t]) continue;
            int32_t id = ids[(size_t)b * T + t];
            US_ASSERT(id >= 0 && id < cfg->vocab_size);
            st->pid[N] = id;
            st->ppos[N] = t;
            N++;
        }
    }
    st->off[B] = N;

    /* Threads: as many as OpenBLAS is set to use (the commands' --threads), at most one per
     * text. The pass is cut into that many groups of whole texts with about equal token counts
     * (group g starts at the first text whose first row is at least g·N/nt), each run through
     * the whole model with one-thread sgemm. The cut depends only on the texts and nt, so the
     * bits do too; nt = 1 is the plain single-group pass. */
    int nt = nn_blas_threads();
    if (nt > B) nt = B;
    if (nt <= 1 || !ensure_groups(enc, st, nt)) {
        forward_group(enc, st, 0, B, st->off, st->att, st->acc, out);
        return;
    }
    st->gb[0] = 0;
    for (int g = 1; g < nt; g++) {
        int b = st->gb[g - 1];
        while (b < B && (long)st->off[b] * nt < (long)g * N) b++;
        st->gb[g] = b;
    }
    st->gb[nt] = B;
    for (int g = 0; g < nt; g++) {
        int *lo = st->goff + st->gb[g] + g;
        for (int b = st->gb[g]; b <= st->gb[g + 1]; b++)
            lo[b - st->gb[g]] = st->off[b] - st->off[st->gb[g]];
    }
    st->run_enc = enc;
    st->run_out = out;
    /* One thread inside each sgemm while the groups run, OpenBLAS's count restored after. */
    nn_blas_set_threads(1);
    if (st->pool)
        us_pool_run(st->pool);
    else
        for (int g = 0; g < nt; g++) forward_worker(st, g);
    nn_blas_set_threads(nt);
}

void us_bert_encode(const us_bert_encoder *enc, us_bert_state *st, const char *const *texts,
                    int n, float *out) {
    const int C = enc->cfg.hidden_size, maxT = st->max_len;
    for (int i0 = 0; i0 < n; i0 += st->max_batch) {
        int b = n - i0 < st->max_batch ? n - i0 : st->max_batch;
        /* Rows of maxT ids; T = the longest text of this pass. */
        int T = us_tokenizer_encode_batch(enc->tok, texts + i0, NULL, b, st->ids, st->mask, maxT,
                                          NULL);
        /* Close up the rows from stride maxT to stride T (row r moves down, never over a row
         * not yet moved, so one forward sweep of memmove is safe). */
        for (int r = 1; r < b && T < maxT; r++) {
            memmove(st->ids + (size_t)r * T, st->ids + (size_t)r * maxT,
                    (size_t)T * sizeof(int32_t));
            memmove(st->mask + (size_t)r * T, st->mask + (size_t)r * maxT, (size_t)T);
        }
        us_bert_forward(enc, st, st->ids, st->mask, b, T, out + (size_t)i0 * C);
    }
}

/* ------------------------------------------------------------------------------------------
 * us_embedder: a BERT, or the hashed fallback
 * ---------------------------------------------------------------------------------------- */

struct us_embedder {
    us_embedder_kind kind;
    int dim;
    us_bert_encoder *bert; /* owned; NULL for the hashed kind */
    us_bert_state *state;  /* owned; NULL for the hashed kind */
};

/* The install prefix the Makefile passes; the share folder below it is searched for models. */
#ifndef US_PREFIX
#define US_PREFIX "/usr/local"
#endif

/* The first of the files an encoder needs that dir lacks, as a path in buf; NULL when all are
 * there. */
static const char *missing_model_file(const char *dir, char *buf, size_t cap) {
    static const char *const need[] = {"config.json", "vocab.txt", "model.safetensors"};
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(buf, cap, "%s", dir);
        return buf;
    }
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        snprintf(buf, cap, "%s/%s", dir, need[i]);
        if (stat(buf, &sb) != 0) return buf;
    }
    return NULL;
}

us_status us_embed_model_find(const char *given, char *out, size_t cap, us_err *err) {
    char miss[4200];
    if (given) {
        const char *absent = missing_model_file(given, miss, sizeof miss);
        if (absent)
            return us_err_set(err, US_ENOTFOUND, absent, 0, "--embed-model",
                              "no such file: a sentence-transformers model folder needs "
                              "config.json, vocab.txt and model.safetensors (make models)");
        snprintf(out, cap, "%s", given);
        return US_OK;
    }
    /* The places in search order; an unset variable is named in the error as not set. */
    char cand[4][4200];
    const char *dir_env = getenv("USERSIM_MODEL_DIR"), *models_env = getenv("USERSIM_MODELS");
    int n = 0;
    if (dir_env && *dir_env) snprintf(cand[n++], sizeof cand[0], "%s", dir_env);
    if (models_env && *models_env)
        snprintf(cand[n++], sizeof cand[0], "%s/%s", models_env, US_EMBED_MODEL_NAME);
    snprintf(cand[n++], sizeof cand[0], "%s/share/usersim/models/%s", US_PREFIX,
             US_EMBED_MODEL_NAME);
    snprintf(cand[n++], sizeof cand[0], "./%s", US_EMBED_MODEL_DIR);
    char tried[2048] = "";
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        const char *absent = missing_model_file(cand[i], miss, sizeof miss);
        if (!absent) {
            snprintf(out, cap, "%s", cand[i]);
            return US_OK;
        }
        const char *what = strcmp(absent, cand[i]) == 0 ? "no folder" : strrchr(absent, '/') + 1;
        int w = snprintf(tried + used, sizeof tried - used, "%s%s (%s%s)", i ? "; " : "",
                         cand[i], strcmp(what, "no folder") ? "no " : "", what);
        if (w > 0) used += (size_t)w < sizeof tried - used ? (size_t)w : sizeof tried - used - 1;
    }
    return us_err_set(err, US_ENOTFOUND, NULL, 0, NULL,
                      "no sentence-embedding model %s; searched: %s%s. Install it (make models), "
                      "name its folder with --embed-model DIR or the folder holding it with "
                      "USERSIM_MODELS, or ask for --hashed",
                      US_EMBED_MODEL_NAME, tried,
                      models_env && *models_env ? "" : "; USERSIM_MODELS (not set)");
}

const char *us_embed_model_dir(void) {
    static char dir[4200];
    if (us_embed_model_find(NULL, dir, sizeof dir, NULL) != US_OK)
        snprintf(dir, sizeof dir, "%s", US_EMBED_MODEL_DIR);
    return dir;
}

us_status us_embedder_open(us_embedder **out, const char *model_dir, int max_batch,
                           int allow_fallback, const us_log *log, us_err *err) {
    *out = NULL;
    char miss[4200];
    const char *absent = model_dir ? missing_model_file(model_dir, miss, sizeof miss) : NULL;
    if (absent && !allow_fallback)
        return us_err_set(err, US_ENOTFOUND, absent, 0, NULL,
                          "no such file: a sentence-transformers model directory needs "
                          "config.json, vocab.txt and model.safetensors (make models)");
    us_embedder *e = calloc(1, sizeof *e);
    if (!e) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory for the embedder");
    e->kind = US_EMBEDDER_HASHED;
    e->dim = US_HASHEMBED_DIM;
    if (absent) {
        us_logf(log, US_LOG_WARN,
                "no sentence encoder: %s does not exist (make models installs one); using %s "
                "embeddings, which match words and word pieces, not meanings",
                absent, US_HASHEMBED_NAME);
    } else if (model_dir) {
        us_status rc = us_bert_open(&e->bert, model_dir, err);
        if (rc == US_OK)
            rc = us_bert_state_init(&e->state, e->bert, max_batch > 0 ? max_batch : 32, 0, err);
        if (rc != US_OK) {
            us_embedder_close(e);
            return rc;
        }
        e->kind = US_EMBEDDER_BERT;
        e->dim = us_bert_dim(e->bert);
    }
    *out = e;
    return US_OK;
}

void us_embedder_close(us_embedder *e) {
    if (!e) return;
    us_bert_state_free(e->state);
    us_bert_close(e->bert);
    free(e);
}

us_embedder_kind us_embedder_kind_of(const us_embedder *e) { return e->kind; }
int us_embedder_dim(const us_embedder *e) { return e->dim; }

const char *us_embedder_name(const us_embedder *e) {
    return e->kind == US_EMBEDDER_BERT ? us_bert_name(e->bert) : US_HASHEMBED_NAME;
}

const char *us_embedder_sha256(const us_embedder *e) {
    return e->kind == US_EMBEDDER_BERT ? us_bert_sha256(e->bert) : "";
}

double us_embed_cosine(const float *a, const float *b, int dim) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (int i = 0; i < dim; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0.0 && bb > 0.0 ? ab / (sqrt(aa) * sqrt(bb)) : 0.0;
}

void us_embedder_embed(us_embedder *e, const char *const *texts, int n, float *out) {
    if (e->kind == US_EMBEDDER_BERT) {
        us_bert_encode(e->bert, e->state, texts, n, out);
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *s = texts[i] ? texts[i] : "";
        us_hashembed(out + (size_t)i * e->dim, s, strlen(s), e->dim);
    }
}
