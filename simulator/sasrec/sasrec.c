/* sasrec.c — SASRec's model: config and presets, the parameter block and its initialization,
 * the activations, and forward/backward of the encoder and of both heads (rating and
 * next-item), plus the Adam step. The equations are in sasrec.h; each loop below says which
 * one it computes, and each backward step restates the forward line it inverts.
 *
 * It deliberately does not read stores, train, checkpoint or serve (sasrec_train.c,
 * sasrec_store.c, sasrec_serve.c do), and it never allocates after us_sasrec_init. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/sasrec/sasrec.h"
#include "simulator/sasrec/sasrec_internal.h"

/* Windows up to this length go through the plain-loop attention (nn_attention_*_naive, the
 * same contract, tested against the sgemm path in tests/core/test_nn.c): at the simulator's
 * T = 2 one sgemm call per (batch, head) costs more than the work (training runs ~15% faster).
 * Longer windows use the sgemm path. Either way the same T always takes the same path. */
#define SASREC_SMALL_T 16

const char *const us_sasrec_tensor_names[US_SASREC_NTENSORS] = {
    "item_emb", "pos_emb", "user_emb", "ln1_w",  "ln1_b",  "qkv_w",  "qkv_b",
    "attn_w",   "attn_b",  "ln2_w",    "ln2_b",  "ffn1_w", "ffn1_b", "ffn2_w",
    "ffn2_b",   "lnf_w",   "lnf_b",    "head_w", "head_b", "out_w",  "out_b",
};

/* ------------------------------------------------------------------------------------------
 * Config
 * ---------------------------------------------------------------------------------------- */

us_sasrec_config us_sasrec_config_default(void) {
    return (us_sasrec_config){
        .head = US_SASREC_RATING,
        .n_users = 0,
        .n_items = 0,
        .d = 32,
        .n_blocks = 2,
        .n_heads = 1,
        .max_len = 2,
        .dropout = 0.2f,
        .ln_eps = 1e-8f,
        .lr = 0.01f,
        .beta1 = 0.9f,
        .beta2 = 0.98f,
        .adam_eps = 1e-8f,
        .weight_decay = 5e-6f,
        .clip_norm = 0.0f,
        .batch_size = 512,
        .max_epochs = 50,
        .patience = 5,
        .eval_negatives = 100,
        .seed = 1,
    };
}

us_status us_sasrec_config_preset(const char *name, const char *dataset, us_sasrec_config *out,
                                  us_err *err) {
    us_sasrec_config c = us_sasrec_config_default();
    if (!name || strcmp(name, "simulator") == 0) {
        *out = c;
        return US_OK;
    }
    if (strcmp(name, "paper") != 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "preset",
                          "expected \"simulator\" or \"paper\", found \"%s\"", name);
    /* Kang & McAuley 2018, section IV-C, and the released code's defaults. */
    c.head = US_SASREC_NEXT;
    c.d = 50;
    c.n_blocks = 2;
    c.n_heads = 1;
    c.dropout = 0.2f;
    c.lr = 0.001f;
    c.weight_decay = 0.0f;
    c.batch_size = 128;
    c.max_epochs = 200;
    c.patience = 10;
    c.max_len = (dataset && (strstr(dataset, "ml-1m") || strstr(dataset, "ml1m"))) ? 200 : 50;
    *out = c;
    return US_OK;
}

us_status us_sasrec_config_validate(const us_sasrec_config *c, us_err *err) {
#define BAD(field, ...) return us_err_set(err, US_EINVAL, NULL, 0, field, __VA_ARGS__)
    if (c->head != US_SASREC_RATING && c->head != US_SASREC_NEXT)
        BAD("head", "expected 0 (rating) or 1 (next), found %d", (int)c->head);
    if (c->n_users < 1) BAD("n_users", "expected >= 1, found %d", c->n_users);
    if (c->n_items < 1 || c->n_items > 100000000)
        BAD("n_items", "expected 1..1e8, found %d", c->n_items);
    if (c->d < 1 || c->d > 4096) BAD("d", "expected 1..4096, found %d", c->d);
    if (c->n_blocks < 1 || c->n_blocks > 64)
        BAD("n_blocks", "expected 1..64, found %d", c->n_blocks);
    if (c->n_heads < 1 || c->d % c->n_heads != 0)
        BAD("n_heads", "expected >= 1 dividing d = %d, found %d", c->d, c->n_heads);
    if (c->max_len < 1 || c->max_len > 4096)
        BAD("max_len", "expected 1..4096, found %d", c->max_len);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        BAD("dropout", "expected [0, 1), found %g", c->dropout);
    if (!(c->ln_eps > 0.0f)) BAD("ln_eps", "expected > 0, found %g", c->ln_eps);
    if (!(c->lr > 0.0f)) BAD("lr", "expected > 0, found %g", c->lr);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f)) BAD("beta1", "expected [0, 1), found %g", c->beta1);
    if (!(c->beta2 >= 0.0f && c->beta2 < 1.0f)) BAD("beta2", "expected [0, 1), found %g", c->beta2);
    if (!(c->adam_eps > 0.0f)) BAD("adam_eps", "expected > 0, found %g", c->adam_eps);
    if (!(c->weight_decay >= 0.0f))
        BAD("weight_decay", "expected >= 0, found %g", c->weight_decay);
    if (!(c->clip_norm >= 0.0f)) BAD("clip_norm", "expected >= 0, found %g", c->clip_norm);
    if (c->batch_size < 1 || c->batch_size > 1 << 20)
        BAD("batch_size", "expected 1..1048576, found %d", c->batch_size);
    if (c->max_epochs < 1) BAD("max_epochs", "expected >= 1, found %d", c->max_epochs);
    if (c->patience < 0) BAD("patience", "expected >= 0, found %d", c->patience);
    if (c->eval_negatives < 1) BAD("eval_negatives", "expected >= 1, found %d", c->eval_negatives);
#undef BAD
    return US_OK;
}

/* ------------------------------------------------------------------------------------------
 * Parameter block
 * ---------------------------------------------------------------------------------------- */

void sasrec_tensor_sizes(const us_sasrec_config *c, size_t sizes[US_SASREC_NTENSORS]) {
    size_t C = (size_t)c->d, NB = (size_t)c->n_blocks;
    size_t v[US_SASREC_NTENSORS] = {
        ((size_t)c->n_items + 1) * C, /* item_emb */
        (size_t)c->max_len * C,       /* pos_emb */
        (size_t)c->n_users * C,       /* user_emb */
        NB * C, NB * C,               /* ln1 */
        NB * 3 * C * C, NB * 3 * C,   /* qkv */
        NB * C * C, NB * C,           /* attn out */
        NB * C, NB * C,               /* ln2 */
        NB * C * C, NB * C,           /* ffn1 */
        NB * C * C, NB * C,           /* ffn2 */
        C, C,                         /* lnf */
        C * 2 * C, C,                 /* head */
        C, 1,                         /* out */
    };
    memcpy(sizes, v, sizeof v);
}

/* Points every field of p at tensor i of section s, in block order. */
static void bind_params(us_sasrec_params *p, const nn_block *blk, float *mem, nn_section s) {
    float **f = (float **)p;
    for (size_t i = 0; i < US_SASREC_NTENSORS; i++) f[i] = nn_block_tensor(blk, mem, s, i);
}

/* The released code's init: xavier_normal_ on every matrix, LayerNorm (1, 0), attention biases
 * 0, FFN and head biases at PyTorch's Conv1d/Linear default U(-1/√fan_in, 1/√fan_in). Drawn in
 * block order from one generator. */
static void init_params(us_sasrec *m) {
    const us_sasrec_config *c = &m->cfg;
    us_sasrec_params *p = &m->params;
    int C = c->d, NB = c->n_blocks;
    us_rng rng = us_rng_derive(c->seed, 0);
    float bc = 1.0f / sqrtf((float)C), b2c = 1.0f / sqrtf(2.0f * (float)C);
    nn_init_xavier_normal(p->item_emb, c->n_items + 1, C, 1.0f, &rng);
    memset(p->item_emb, 0, (size_t)C * sizeof(float)); /* padding row: never read */
    nn_init_xavier_normal(p->pos_emb, c->max_len, C, 1.0f, &rng);
    nn_init_xavier_normal(p->user_emb, c->n_users, C, 1.0f, &rng);
    for (int l = 0; l < NB; l++) {
        size_t lc = (size_t)l * C, lcc = (size_t)l * C * C;
        for (int i = 0; i < C; i++) p->ln1_w[lc + i] = 1.0f, p->ln2_w[lc + i] = 1.0f;
        nn_init_zero(p->ln1_b + lc, (size_t)C);
        nn_init_zero(p->ln2_b + lc, (size_t)C);
        nn_init_xavier_normal(p->qkv_w + 3 * lcc, 3 * C, C, 1.0f, &rng);
        nn_init_zero(p->qkv_b + 3 * lc, 3 * (size_t)C);
        nn_init_xavier_normal(p->attn_w + lcc, C, C, 1.0f, &rng);
        nn_init_zero(p->attn_b + lc, (size_t)C);
        nn_init_xavier_normal(p->ffn1_w + lcc, C, C, 1.0f, &rng);
        nn_init_uniform(p->ffn1_b + lc, (size_t)C, -bc, bc, &rng);
        nn_init_xavier_normal(p->ffn2_w + lcc, C, C, 1.0f, &rng);
        nn_init_uniform(p->ffn2_b + lc, (size_t)C, -bc, bc, &rng);
    }
    for (int i = 0; i < C; i++) p->lnf_w[i] = 1.0f;
    nn_init_zero(p->lnf_b, (size_t)C);
    nn_init_xavier_normal(p->head_w, C, 2 * C, 1.0f, &rng);
    nn_init_uniform(p->head_b, (size_t)C, -b2c, b2c, &rng);
    nn_init_xavier_normal(p->out_w, 1, C, 1.0f, &rng);
    nn_init_uniform(p->out_b, 1, -bc, bc, &rng);
}

/* ------------------------------------------------------------------------------------------
 * Activations
 * ---------------------------------------------------------------------------------------- */

void sasrec_acts_free(us_sasrec_acts *a) {
    if (!a) return;
    free(a->arena);
    free(a);
}

us_status sasrec_acts_init(us_sasrec_acts **out, const us_sasrec_config *c, int B, int backward,
                           us_err *err) {
    *out = NULL;
    us_sasrec_acts *a = calloc(1, sizeof *a);
    if (!a) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (activations)");
    a->B = B;
    a->T = c->max_len;
    a->C = c->d;
    a->NB = c->n_blocks;
    a->H = c->n_heads;
    a->backward = backward;
    size_t N = (size_t)B * a->T, C = (size_t)a->C, NB = (size_t)a->NB, T = (size_t)a->T;
    size_t NC = N * C;
    /* Two passes over one list: the first sums the bytes, the second hands out pointers, each
     * piece aligned to 64 bytes. */
    struct {
        void **ptr;
        size_t bytes;
    } list[] = {
        {(void **)&a->seq, N * sizeof(int32_t)},
        {(void **)&a->tmask, N},
        {(void **)&a->emb_mask, NC},
        {(void **)&a->x, (NB + 1) * NC * sizeof(float)},
        {(void **)&a->ln1, NB * NC * sizeof(float)},
        {(void **)&a->ln1_mean, NB * N * sizeof(float)},
        {(void **)&a->ln1_rstd, NB * N * sizeof(float)},
        {(void **)&a->qkv, NB * 3 * NC * sizeof(float)},
        {(void **)&a->att, NB * (size_t)B * (size_t)a->H * T * T * sizeof(float)},
        {(void **)&a->atty, NB * NC * sizeof(float)},
        {(void **)&a->res1, NB * NC * sizeof(float)},
        {(void **)&a->ln2, NB * NC * sizeof(float)},
        {(void **)&a->ln2_mean, NB * N * sizeof(float)},
        {(void **)&a->ln2_rstd, NB * N * sizeof(float)},
        {(void **)&a->f1, NB * NC * sizeof(float)},
        {(void **)&a->mask1, NB * NC},
        {(void **)&a->mask2, NB * NC},
        {(void **)&a->hf, NC * sizeof(float)},
        {(void **)&a->hf_mean, N * sizeof(float)},
        {(void **)&a->hf_rstd, N * sizeof(float)},
        {(void **)&a->users, (size_t)B * sizeof(int32_t)},
        {(void **)&a->items, (size_t)B * sizeof(int32_t)},
        {(void **)&a->labels, (size_t)B * sizeof(float)},
        {(void **)&a->cat, (size_t)B * 2 * C * sizeof(float)},
        {(void **)&a->z, (size_t)B * C * sizeof(float)},
        {(void **)&a->ie, (size_t)B * C * sizeof(float)},
        {(void **)&a->zi, (size_t)B * C * sizeof(float)},
        {(void **)&a->logit, (size_t)B * sizeof(float)},
        {(void **)&a->prob, (size_t)B * sizeof(float)},
        {(void **)&a->pos, N * sizeof(int32_t)},
        {(void **)&a->neg, N * sizeof(int32_t)},
        {(void **)&a->nlogit, 2 * N * sizeof(float)},
        {(void **)&a->ntarget, 2 * N * sizeof(float)},
        {(void **)&a->nweight, N * sizeof(float)},
        {(void **)&a->t1, 3 * NC * sizeof(float)},
        {(void **)&a->t2, 3 * NC * sizeof(float)},
        /* backward only (sizes 0 when not wanted) */
        {(void **)&a->dx, backward ? NC * sizeof(float) : 0},
        {(void **)&a->dx2, backward ? NC * sizeof(float) : 0},
        {(void **)&a->dln, backward ? NC * sizeof(float) : 0},
        {(void **)&a->dhf, backward ? NC * sizeof(float) : 0},
        {(void **)&a->gA, backward ? NC * sizeof(float) : 0},
        {(void **)&a->gB, backward ? NC * sizeof(float) : 0},
        {(void **)&a->gC, backward ? NC * sizeof(float) : 0},
        {(void **)&a->dqkv, backward ? 3 * NC * sizeof(float) : 0},
        {(void **)&a->dkv, backward ? 2 * NC * sizeof(float) : 0},
        {(void **)&a->dlogit, backward ? 2 * N * sizeof(float) : 0},
        {(void **)&a->att_scratch, backward ? T * T * sizeof(float) : 0},
    };
    size_t n = sizeof list / sizeof list[0], total = 0;
    for (size_t i = 0; i < n; i++) total += (list[i].bytes + 63) / 64 * 64;
    a->arena = calloc(1, total ? total : 1);
    if (!a->arena) {
        free(a);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL,
                          "out of memory: %zu bytes of activations for batch %d", total, B);
    }
    a->arena_bytes = total;
    char *at = a->arena;
    for (size_t i = 0; i < n; i++) {
        *list[i].ptr = list[i].bytes ? at : NULL;
        at += (list[i].bytes + 63) / 64 * 64;
    }
    *out = a;
    return US_OK;
}

/* ------------------------------------------------------------------------------------------
 * Model
 * ---------------------------------------------------------------------------------------- */

us_status us_sasrec_init(us_sasrec **out, const us_sasrec_config *cfg, us_err *err) {
    *out = NULL;
    us_status st = us_sasrec_config_validate(cfg, err);
    if (st != US_OK) return st;
    us_sasrec *m = calloc(1, sizeof *m);
    if (!m) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (model)");
    m->cfg = *cfg;
    size_t sizes[US_SASREC_NTENSORS];
    sasrec_tensor_sizes(cfg, sizes);
    nn_block_layout(&m->block, sizes, US_SASREC_NTENSORS);
    m->mem = calloc(m->block.total, sizeof(float));
    if (!m->mem) {
        size_t np = m->block.nparams;
        free(m);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL,
                          "out of memory: %zu parameters (x4 for grads and Adam)", np);
    }
    bind_params(&m->params, &m->block, m->mem, NN_PARAMS);
    bind_params(&m->grads, &m->block, m->mem, NN_GRADS);
    m->max_batch = cfg->batch_size;
    m->sparse_embeddings = 1;
    m->rng = us_rng_derive(cfg->seed, 1);
    st = sasrec_acts_init(&m->acts, cfg, m->max_batch, 1, err);
    if (st != US_OK) {
        free(m->mem);
        free(m);
        return st;
    }
    init_params(m);
    *out = m;
    return US_OK;
}

void us_sasrec_free(us_sasrec *m) {
    if (!m) return;
    sasrec_acts_free(m->acts);
    free(m->mem);
    free(m);
}

void us_sasrec_zero_grad(us_sasrec *m) {
    memset(nn_block_section(&m->block, m->mem, NN_GRADS), 0, m->block.nparams * sizeof(float));
}

double us_sasrec_adam_step(us_sasrec *m) {
    const us_sasrec_config *c = &m->cfg;
    float *grads = nn_block_section(&m->block, m->mem, NN_GRADS);
    double norm = nn_clip_grad_norm(grads, m->block.nparams, (double)c->clip_norm);
    m->step++;
    nn_adamw_update(m->mem, grads, nn_block_section(&m->block, m->mem, NN_ADAM_M),
                    nn_block_section(&m->block, m->mem, NN_ADAM_V), m->block.nparams, c->lr,
                    c->beta1, c->beta2, c->adam_eps, c->weight_decay, m->step, NN_DECAY_L2);
    return norm;
}

/* ------------------------------------------------------------------------------------------
 * Encoder forward / backward
 * ---------------------------------------------------------------------------------------- */

void sasrec_encode_forward(const us_sasrec_config *c, const us_sasrec_params *p,
                           us_sasrec_acts *a, const int32_t *hist, int B, int training,
                           us_rng *rng) {
    US_ASSERT(B >= 1 && B <= a->B);
    int T = a->T, C = a->C, H = a->H, NB = a->NB, N = B * T;
    size_t NC = (size_t)N * C;
    float scale = sqrtf((float)C), pdrop = c->dropout;
    /* s_t = item id + 1 (row of item_emb), 0 for padding; m_t = [s_t != 0]. */
    for (int n = 0; n < N; n++) {
        int32_t it = hist[n];
        US_ASSERT(it >= -1 && it < c->n_items);
        a->seq[n] = it + 1;
        a->tmask[n] = it >= 0;
    }
    /* x = dropout(item_emb[s_t]·sqrt(C) + pos_emb[t]) · m_t  (padded rows stay 0 throughout) */
    float *x0 = a->x;
    nn_embedding_forward(x0, a->seq, p->item_emb, N, c->n_items + 1, C, 0);
    for (int n = 0; n < N; n++) {
        float *xr = x0 + (size_t)n * C;
        if (!a->tmask[n]) continue;
        const float *pe = p->pos_emb + (size_t)(n % T) * C;
        for (int i = 0; i < C; i++) xr[i] = xr[i] * scale + pe[i];
    }
    nn_dropout_forward(x0, a->emb_mask, x0, NC, pdrop, training, rng);
    for (int l = 0; l < NB; l++) {
        size_t lc = (size_t)l * C, lcc = (size_t)l * C * C;
        const float *xin = a->x + (size_t)l * NC;
        float *xout = a->x + (size_t)(l + 1) * NC;
        float *ln1 = a->ln1 + l * NC, *qkv = a->qkv + 3 * l * NC, *atty = a->atty + l * NC;
        float *att = a->att + (size_t)l * B * H * T * T;
        float *res1 = a->res1 + l * NC, *ln2 = a->ln2 + l * NC, *f1 = a->f1 + l * NC;
        /* Q = LN1(x) */
        nn_layernorm_forward(ln1, a->ln1_mean + (size_t)l * N, a->ln1_rstd + (size_t)l * N, xin,
                             p->ln1_w + lc, p->ln1_b + lc, N, C, c->ln_eps);
        /* q = Q·Wqᵀ + bq into t1 (N,C);  [k v] = x·[Wk;Wv]ᵀ + [bk;bv] into t2 (N,2C) */
        nn_linear_forward(a->t1, ln1, p->qkv_w + 3 * lcc, p->qkv_b + 3 * lc, N, C, C);
        nn_linear_forward(a->t2, xin, p->qkv_w + 3 * lcc + (size_t)C * C, p->qkv_b + 3 * lc + C,
                          N, C, 2 * C);
        /* pack qkv[n] = [q_n | k_n | v_n] for the attention kernel */
        for (int n = 0; n < N; n++) {
            memcpy(qkv + (size_t)n * 3 * C, a->t1 + (size_t)n * C, (size_t)C * sizeof(float));
            memcpy(qkv + (size_t)n * 3 * C + C, a->t2 + (size_t)n * 2 * C,
                   2 * (size_t)C * sizeof(float));
        }
        /* a = attention(q, k, v), causal and key-padding masked */
        if (T <= SASREC_SMALL_T)
            nn_attention_forward_naive(atty, att, qkv, a->tmask, B, T, C, H, 1);
        else
            nn_attention_forward(atty, att, qkv, a->tmask, B, T, C, H, 1);
        /* x = Q + (a·Woᵀ + bo) */
        nn_linear_forward(res1, atty, p->attn_w + lcc, p->attn_b + lc, N, C, C);
        for (size_t i = 0; i < NC; i++) res1[i] += ln1[i];
        /* y = LN2(x) */
        nn_layernorm_forward(ln2, a->ln2_mean + (size_t)l * N, a->ln2_rstd + (size_t)l * N, res1,
                             p->ln2_w + lc, p->ln2_b + lc, N, C, c->ln_eps);
        /* f1 = relu(dropout(y·W1ᵀ + b1)), in place (relu's backward reads its output) */
        nn_linear_forward(f1, ln2, p->ffn1_w + lcc, p->ffn1_b + lc, N, C, C);
        nn_dropout_forward(f1, a->mask1 + l * NC, f1, NC, pdrop, training, rng);
        nn_relu_forward(f1, f1, NC);
        /* f2 = dropout(f1·W2ᵀ + b2) into t1;  x = (y + f2)·m_t */
        nn_linear_forward(a->t1, f1, p->ffn2_w + lcc, p->ffn2_b + lc, N, C, C);
        nn_dropout_forward(a->t1, a->mask2 + l * NC, a->t1, NC, pdrop, training, rng);
        for (int n = 0; n < N; n++) {
            float mk = a->tmask[n] ? 1.0f : 0.0f;
            for (int i = 0; i < C; i++) {
                size_t k = (size_t)n * C + i;
                xout[k] = (ln2[k] + a->t1[k]) * mk;
            }
        }
    }
    /* h = LNf(x) */
    nn_layernorm_forward(a->hf, a->hf_mean, a->hf_rstd, a->x + (size_t)NB * NC, p->lnf_w,
                         p->lnf_b, N, C, c->ln_eps);
    a->cur_B = B;
    a->training = training;
}

/* Accumulates the parameter gradients of the encoder given a->dhf = ∂loss/∂h (N,C). */
static void encode_backward(const us_sasrec_config *c, const us_sasrec_params *p,
                            const us_sasrec_params *g, us_sasrec_acts *a) {
    int B = a->cur_B, T = a->T, C = a->C, H = a->H, NB = a->NB, N = B * T;
    size_t NC = (size_t)N * C, bytes = NC * sizeof(float);
    float pdrop = c->dropout, scale = sqrtf((float)C);
    int tr = a->training;
    float *dx = a->dx, *dx2 = a->dx2;
    /* h = LNf(x_NB):  dx = LNf'ᵀ·dh */
    memset(dx, 0, bytes);
    nn_layernorm_backward(dx, g->lnf_w, g->lnf_b, a->dhf, a->x + (size_t)NB * NC, p->lnf_w,
                          a->hf_mean, a->hf_rstd, N, C);
    for (int l = NB - 1; l >= 0; l--) {
        size_t lc = (size_t)l * C, lcc = (size_t)l * C * C;
        const float *xin = a->x + (size_t)l * NC;
        const float *ln1 = a->ln1 + l * NC, *qkv = a->qkv + 3 * l * NC;
        const float *atty = a->atty + l * NC, *att = a->att + (size_t)l * B * H * T * T;
        const float *res1 = a->res1 + l * NC, *ln2 = a->ln2 + l * NC, *f1 = a->f1 + l * NC;
        /* x_out = (y + f2)·m_t:  d(y + f2) = dx_out·m_t, into gA; dy starts as a copy */
        for (int n = 0; n < N; n++) {
            float mk = a->tmask[n] ? 1.0f : 0.0f;
            for (int i = 0; i < C; i++) a->gA[(size_t)n * C + i] = dx[(size_t)n * C + i] * mk;
        }
        memcpy(a->dln, a->gA, bytes);
        /* f2 = dropout(f2pre):  df2pre into gB */
        memset(a->gB, 0, bytes);
        nn_dropout_backward(a->gB, a->gA, a->mask2 + l * NC, NC, pdrop, tr);
        /* f2pre = f1·W2ᵀ + b2:  df1 into gC, dW2, db2 */
        memset(a->gC, 0, bytes);
        nn_linear_backward(a->gC, g->ffn2_w + lcc, g->ffn2_b + lc, a->gB, f1, p->ffn2_w + lcc, N,
                           C, C);
        /* f1 = relu(f1d):  df1d into gA (relu's output f1 stands in for its input) */
        memset(a->gA, 0, bytes);
        nn_relu_backward(a->gA, a->gC, f1, NC);
        /* f1d = dropout(f1pre):  df1pre into gB */
        memset(a->gB, 0, bytes);
        nn_dropout_backward(a->gB, a->gA, a->mask1 + l * NC, NC, pdrop, tr);
        /* f1pre = y·W1ᵀ + b1:  dy += df1pre·W1, dW1, db1 */
        nn_linear_backward(a->dln, g->ffn1_w + lcc, g->ffn1_b + lc, a->gB, ln2, p->ffn1_w + lcc,
                           N, C, C);
        /* y = LN2(res1):  dres1 into gA */
        memset(a->gA, 0, bytes);
        nn_layernorm_backward(a->gA, g->ln2_w + lc, g->ln2_b + lc, a->dln, res1, p->ln2_w + lc,
                              a->ln2_mean + (size_t)l * N, a->ln2_rstd + (size_t)l * N, N, C);
        /* res1 = Q + (a·Woᵀ + bo):  dQ = dres1 (copy into dln), da into gB, dWo, dbo */
        memcpy(a->dln, a->gA, bytes);
        memset(a->gB, 0, bytes);
        nn_linear_backward(a->gB, g->attn_w + lcc, g->attn_b + lc, a->gA, atty, p->attn_w + lcc,
                           N, C, C);
        /* a = attention(qkv):  dqkv */
        memset(a->dqkv, 0, 3 * bytes);
        if (T <= SASREC_SMALL_T)
            nn_attention_backward_naive(a->dqkv, a->gB, qkv, att, a->tmask, B, T, C, H, 1);
        else
            nn_attention_backward(a->dqkv, a->att_scratch, a->gB, qkv, att, a->tmask, B, T, C,
                                  H, 1);
        /* unpack dqkv[n] = [dq | dk dv] into gA (N,C) and dkv (N,2C) */
        for (int n = 0; n < N; n++) {
            memcpy(a->gA + (size_t)n * C, a->dqkv + (size_t)n * 3 * C, (size_t)C * sizeof(float));
            memcpy(a->dkv + (size_t)n * 2 * C, a->dqkv + (size_t)n * 3 * C + C,
                   2 * (size_t)C * sizeof(float));
        }
        /* q = Q·Wqᵀ + bq:  dQ += dq·Wq, dWq, dbq */
        nn_linear_backward(a->dln, g->qkv_w + 3 * lcc, g->qkv_b + 3 * lc, a->gA, ln1,
                           p->qkv_w + 3 * lcc, N, C, C);
        /* [k v] = x·[Wk;Wv]ᵀ + [bk;bv]:  dx_in = dkv·[Wk;Wv], dWk, dWv, dbk, dbv */
        memset(dx2, 0, bytes);
        nn_linear_backward(dx2, g->qkv_w + 3 * lcc + (size_t)C * C, g->qkv_b + 3 * lc + C,
                           a->dkv, xin, p->qkv_w + 3 * lcc + (size_t)C * C, N, C, 2 * C);
        /* Q = LN1(x_in):  dx_in += LN1'ᵀ·dQ */
        nn_layernorm_backward(dx2, g->ln1_w + lc, g->ln1_b + lc, a->dln, xin, p->ln1_w + lc,
                              a->ln1_mean + (size_t)l * N, a->ln1_rstd + (size_t)l * N, N, C);
        float *tmp = dx;
        dx = dx2;
        dx2 = tmp;
    }
    /* x0 = dropout(e)·m_t with e = item_emb[s_t]·sqrt(C) + pos_emb[t] at real positions:
     * de = dropout'(dx0·m_t), into gB */
    for (int n = 0; n < N; n++) {
        float mk = a->tmask[n] ? 1.0f : 0.0f;
        for (int i = 0; i < C; i++) a->gA[(size_t)n * C + i] = dx[(size_t)n * C + i] * mk;
    }
    memset(a->gB, 0, bytes);
    nn_dropout_backward(a->gB, a->gA, a->emb_mask, NC, pdrop, tr);
    /* dpos_emb[t] += Σ_b de[b,t] (real positions);  ditem_emb[s_t] += de·sqrt(C) */
    for (int n = 0; n < N; n++) {
        if (!a->tmask[n]) continue;
        float *gp = g->pos_emb + (size_t)(n % T) * C, *de = a->gB + (size_t)n * C;
        for (int i = 0; i < C; i++) {
            gp[i] += de[i];
            de[i] *= scale;
        }
    }
    nn_embedding_backward(g->item_emb, a->gB, a->seq, N, c->n_items + 1, C, 0);
}

/* ------------------------------------------------------------------------------------------
 * Rating head
 * ---------------------------------------------------------------------------------------- */

void sasrec_rating_head_forward(const us_sasrec_config *c, const us_sasrec_params *p,
                                us_sasrec_acts *a, const int32_t *users, const int32_t *items,
                                int B) {
    int T = a->T, C = a->C;
    for (int b = 0; b < B; b++) {
        US_ASSERT(users[b] >= 0 && users[b] < c->n_users);
        US_ASSERT(items[b] >= 0 && items[b] < c->n_items);
        a->users[b] = users[b];
        a->items[b] = items[b] + 1;
        /* cat = [h_{T-1} ; user_emb[u]] */
        memcpy(a->cat + (size_t)b * 2 * C, a->hf + ((size_t)b * T + T - 1) * C,
               (size_t)C * sizeof(float));
        memcpy(a->cat + (size_t)b * 2 * C + C, p->user_emb + (size_t)users[b] * C,
               (size_t)C * sizeof(float));
    }
    /* z = Wh·cat + bh */
    nn_linear_forward(a->z, a->cat, p->head_w, p->head_b, B, 2 * C, C);
    /* ie = item_emb[i+1];  zi = z ⊙ ie */
    nn_embedding_forward(a->ie, a->items, p->item_emb, B, c->n_items + 1, C, 0);
    for (size_t k = 0; k < (size_t)B * C; k++) a->zi[k] = a->z[k] * a->ie[k];
    /* logit = wo·zi + bo;  P = σ(logit) */
    nn_linear_forward(a->logit, a->zi, p->out_w, p->out_b, B, C, 1);
    for (int b = 0; b < B; b++) a->prob[b] = 1.0f / (1.0f + expf(-a->logit[b]));
}

/* σ(x) without overflow, the same expression as core/nn.c's (for x < 0, e^x/(1 + e^x)). */
static float sigmoidf_stable(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* nn_sigmoid_bce_backward's loop with the scale given instead of 1/count of these n logits:
 * a shard of a batch scales by the whole batch's count. dlogit_i += g·w_i·(σ(x_i) - y_i). */
static void bce_backward_scaled(float *dlogits /* (n) */, float g, const float *logits /* (n) */,
                                const float *targets /* (n) */, const float *weight /* (n) */,
                                size_t n) {
    for (size_t i = 0; i < n; i++) {
        float w = weight ? weight[i] : 1.0f;
        if (w == 0.0f) continue;
        dlogits[i] += g * w * (sigmoidf_stable(logits[i]) - targets[i]);
    }
}

double sasrec_rating_forward(const us_sasrec_config *c, const us_sasrec_params *p,
                             us_sasrec_acts *a, const int32_t *hist, const int32_t *users,
                             const int32_t *items, const float *labels, int B, int training,
                             us_rng *rng) {
    sasrec_encode_forward(c, p, a, hist, B, training, rng);
    sasrec_rating_head_forward(c, p, a, users, items, B);
    a->has_labels = labels != NULL;
    if (!labels) return 0.0;
    memcpy(a->labels, labels, (size_t)B * sizeof(float));
    /* L = mean_b BCE(logit_b, y_b) */
    return nn_sigmoid_bce_forward(NULL, a->logit, a->labels, NULL, (size_t)B);
}

double us_sasrec_rating_forward(us_sasrec *m, const int32_t *hist, const int32_t *users,
                                const int32_t *items, const float *labels, int B, int training) {
    return sasrec_rating_forward(&m->cfg, &m->params, m->acts, hist, users, items, labels, B,
                                 training, &m->rng);
}

const float *us_sasrec_probs(const us_sasrec *m) { return m->acts->prob; }

void sasrec_rating_backward(const us_sasrec_config *c, const us_sasrec_params *p,
                            const us_sasrec_params *g, us_sasrec_acts *a, float gscale) {
    US_ASSERT(a->has_labels);
    int B = a->cur_B, T = a->T, C = a->C;
    size_t BC = (size_t)B * C;
    /* L = Σ_b BCE_b / n (n = B, or the whole batch's rows for a shard):  dlogit = (σ - y)/n */
    memset(a->dlogit, 0, (size_t)B * sizeof(float));
    bce_backward_scaled(a->dlogit, gscale, a->logit, a->labels, NULL, (size_t)B);
    /* logit = wo·zi + bo:  dzi into gA, dwo, dbo */
    memset(a->gA, 0, BC * sizeof(float));
    nn_linear_backward(a->gA, g->out_w, g->out_b, a->dlogit, a->zi, p->out_w, B, C, 1);
    /* zi = z ⊙ ie:  dz = dzi ⊙ ie into gB;  die = dzi ⊙ z into gC */
    for (size_t k = 0; k < BC; k++) {
        a->gB[k] = a->gA[k] * a->ie[k];
        a->gC[k] = a->gA[k] * a->z[k];
    }
    /* ie = item_emb[i+1]:  ditem_emb[i+1] += die */
    nn_embedding_backward(g->item_emb, a->gC, a->items, B, c->n_items + 1, C, 0);
    /* z = Wh·cat + bh:  dcat (B,2C) into dqkv, dWh, dbh */
    memset(a->dqkv, 0, 2 * BC * sizeof(float));
    nn_linear_backward(a->dqkv, g->head_w, g->head_b, a->gB, a->cat, p->head_w, B, 2 * C, C);
    /* cat = [h_{T-1} ; user_emb[u]]:  dh at the last position, duser_emb[u] += the rest */
    memset(a->dhf, 0, (size_t)B * T * C * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *dc = a->dqkv + (size_t)b * 2 * C;
        memcpy(a->dhf + ((size_t)b * T + T - 1) * C, dc, (size_t)C * sizeof(float));
        float *gu = g->user_emb + (size_t)a->users[b] * C;
        for (int i = 0; i < C; i++) gu[i] += dc[C + i];
    }
    encode_backward(c, p, g, a);
}

void us_sasrec_rating_backward(us_sasrec *m) {
    /* the whole batch: scale 1/B */
    sasrec_rating_backward(&m->cfg, &m->params, &m->grads, m->acts, 1.0f / (float)m->acts->cur_B);
}

/* ------------------------------------------------------------------------------------------
 * Next-item head
 * ---------------------------------------------------------------------------------------- */

size_t sasrec_next_count(const int32_t *pos, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += pos[i] >= 0;
    return k;
}

double sasrec_next_forward(const us_sasrec_config *c, const us_sasrec_params *p,
                           us_sasrec_acts *a, const int32_t *hist, const int32_t *pos,
                           const int32_t *neg, int B, int training, us_rng *rng) {
    sasrec_encode_forward(c, p, a, hist, B, training, rng);
    int N = B * a->T, C = a->C;
    /* logit+_n = h_n·item_emb[pos_n+1],  logit-_n = h_n·item_emb[neg_n+1], weight [pos_n real] */
    for (int n = 0; n < N; n++) {
        int real = pos[n] >= 0;
        US_ASSERT(pos[n] >= -1 && pos[n] < c->n_items);
        US_ASSERT(!real || (neg[n] >= 0 && neg[n] < c->n_items));
        a->pos[n] = real ? pos[n] + 1 : 0;
        a->neg[n] = real ? neg[n] + 1 : 0;
        a->nweight[n] = real ? 1.0f : 0.0f;
        a->ntarget[n] = 1.0f;
        a->ntarget[N + n] = 0.0f;
        double sp = 0.0, sn = 0.0;
        if (real) {
            const float *h = a->hf + (size_t)n * C;
            const float *ep = p->item_emb + (size_t)a->pos[n] * C;
            const float *en = p->item_emb + (size_t)a->neg[n] * C;
            for (int i = 0; i < C; i++) sp += (double)h[i] * ep[i], sn += (double)h[i] * en[i];
        }
        a->nlogit[n] = (float)sp;
        a->nlogit[N + n] = (float)sn;
    }
    a->has_labels = 1;
    /* L = mean BCE(logit+, 1) + mean BCE(logit-, 0), each over the real positions */
    return nn_sigmoid_bce_forward(NULL, a->nlogit, a->ntarget, a->nweight, (size_t)N) +
           nn_sigmoid_bce_forward(NULL, a->nlogit + N, a->ntarget + N, a->nweight, (size_t)N);
}

double us_sasrec_next_forward(us_sasrec *m, const int32_t *hist, const int32_t *pos,
                              const int32_t *neg, int B, int training) {
    return sasrec_next_forward(&m->cfg, &m->params, m->acts, hist, pos, neg, B, training,
                               &m->rng);
}

void sasrec_next_backward(const us_sasrec_config *c, const us_sasrec_params *p,
                          const us_sasrec_params *g, us_sasrec_acts *a, float gscale) {
    int N = a->cur_B * a->T, C = a->C;
    /* L = (Σ_n w_n·BCE+_n + Σ_n w_n·BCE-_n) / n_real:  dlogit± = w·(σ - y)·gscale */
    memset(a->dlogit, 0, 2 * (size_t)N * sizeof(float));
    bce_backward_scaled(a->dlogit, gscale, a->nlogit, a->ntarget, a->nweight, (size_t)N);
    bce_backward_scaled(a->dlogit + N, gscale, a->nlogit + N, a->ntarget + N, a->nweight,
                        (size_t)N);
    /* logit± = h·e±:  dh = dl+·e+ + dl-·e-;  de± += dl±·h */
    memset(a->dhf, 0, (size_t)N * C * sizeof(float));
    for (int n = 0; n < N; n++) {
        if (a->nweight[n] == 0.0f) continue;
        float dp = a->dlogit[n], dn = a->dlogit[N + n];
        const float *h = a->hf + (size_t)n * C;
        const float *ep = p->item_emb + (size_t)a->pos[n] * C;
        const float *en = p->item_emb + (size_t)a->neg[n] * C;
        float *dh = a->dhf + (size_t)n * C;
        float *gp = g->item_emb + (size_t)a->pos[n] * C, *gn = g->item_emb + (size_t)a->neg[n] * C;
        for (int i = 0; i < C; i++) {
            dh[i] += dp * ep[i] + dn * en[i];
            gp[i] += dp * h[i];
            gn[i] += dn * h[i];
        }
    }
    encode_backward(c, p, g, a);
}

void us_sasrec_next_backward(us_sasrec *m) {
    us_sasrec_acts *a = m->acts;
    /* the whole batch: scale 1/(its real positions); none: no loss, every dlogit stays 0 */
    size_t real = 0, N = (size_t)a->cur_B * a->T;
    for (size_t n = 0; n < N; n++) real += a->nweight[n] != 0.0f;
    sasrec_next_backward(&m->cfg, &m->params, &m->grads, a, real ? 1.0f / (float)real : 0.0f);
}
