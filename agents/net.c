/* net.c — the policy network every learner shares (agents.h, "The policy network"): a state
 * encoder over the user's logged history and the episode's (item, reaction) pairs, an MLP, and
 * one score per catalogue item (h times an item-embedding matrix: one sgemm for a batch), with
 * a value head beside it. Forward, backward (accumulating into one nn_block's gradients) and a
 * forward-mode derivative for TRPO's Fisher-vector products. It does not mask, sample or
 * update: the learners do. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "agents/internal.h"
#include "core/nn.h"

/* The block's tensors, in order. */
enum { T_E, T_R, T_W1, T_B1, T_W2, T_B2, T_O, T_OB, T_WV, T_BV, T_COUNT };
#define NREACT 5 /* history dislike, like, none; episode miss, like */

struct us_net {
    const us_sim *sim;
    us_net_config cfg;
    int V, D, Hd, K, obs_size, max_batch, n_pairs;
    nn_block blk;
    float *mem;
    float *p[T_COUNT]; /* parameter tensors */
    float *g[T_COUNT]; /* their gradients */
    /* what the last forward kept, for its B rows */
    int B;
    float *z;    /* (B, 2D) [history mean, episode mean] */
    float *pre1; /* (B, Hd) W1·z + b1 */
    float *h1;   /* (B, Hd) relu(pre1) */
    float *h;    /* (B, D) */
    int *nh, *np;      /* (B) history items and episode pairs averaged */
    const int32_t *obs;/* the last forward's observations (borrowed until the next call) */
    /* scratch for backward and jvp */
    float *dz, *d1, *dh, *t1; /* (B,2D), (B,Hd), (B,D), (B, max(Hd, D)) */
    ag_prof *prof;            /* where forward, backward and jvp add their seconds, or NULL */
    const int32_t *items;     /* the last forward_at's items (borrowed until the next call) */
};

const us_hparam us_net_hparams[US_NET_NHPARAMS] = {AG_NET_HPARAMS};

us_net_config us_net_config_from(const us_hvalues *vals) {
    us_net_config c;
    c.dim = (int)vals->v[0];
    c.hidden = (int)vals->v[1];
    c.hist_len = (int)vals->v[2];
    c.text_init = (int)vals->v[3];
    c.pop_init = vals->v[4];
    return c;
}

/* The history label's reaction row: dislike 0, like 1, none 2. */
static int hist_row(int8_t label) { return label == 1 ? 1 : label == 0 ? 0 : 2; }

/* The item score biases o from the training split's likes: pop_init · log((1 + likes_i) /
 * (1 + max likes)), so the untrained net ranks items as a popularity list does and its first
 * policy samples them in proportion to (1 + likes)^pop_init. */
static void pop_init(us_net *n, double scale) {
    float *o = n->p[T_OB];
    uint32_t max = 0;
    for (int i = 0; i < n->V; i++) o[i] = 0.0f;
    for (int u = 0; u < us_sim_n_users(n->sim); u++) {
        const int32_t *items;
        const int8_t *labels;
        const int k = us_sim_history(n->sim, u, &items, &labels);
        for (int j = 0; j < k; j++) o[items[j]] += labels[j] == 1;
    }
    for (int i = 0; i < n->V; i++)
        if (o[i] > (float)max) max = (uint32_t)o[i];
    for (int i = 0; i < n->V; i++)
        o[i] = (float)(scale * (log1p((double)o[i]) - log1p((double)max)));
}

/* E and O from the items' text vectors: x_i·P with P (dim_text, D) ~ N(0, 1/D) from rng,
 * each row rescaled to norm 0.02·sqrt(D) (the random init's expected norm); items without a
 * vector keep their random row. Returns 1 when some item had a vector. */
static int text_init(us_net *n, us_rng *rng) {
    int dt = 0;
    int any = 0;
    for (int i = 0; i < n->V && !any; i++) any = us_sim_item_vector(n->sim, i, 0, &dt) != NULL;
    if (!any || dt <= 0) return 0;
    const int D = n->D;
    float *P = malloc((size_t)dt * (size_t)D * sizeof *P);
    if (!P) return 0;
    nn_init_normal(P, (size_t)dt * (size_t)D, 0.0f, 1.0f / sqrtf((float)D), rng);
    const double target = 0.02 * sqrt((double)D);
    for (int i = 0; i < n->V; i++) {
        const float *x = us_sim_item_vector(n->sim, i, 0, NULL);
        if (!x) continue;
        double row[1024], ss = 0.0;
        for (int c = 0; c < D; c++) {
            double s = 0.0;
            for (int k = 0; k < dt; k++) s += (double)x[k] * P[(size_t)k * D + c];
            row[c] = s;
            ss += s * s;
        }
        const double f = ss > 0.0 ? target / sqrt(ss) : 0.0;
        for (int c = 0; c < D; c++) {
            n->p[T_E][(size_t)i * D + c] = (float)(row[c] * f);
            n->p[T_O][(size_t)i * D + c] = (float)(row[c] * f);
        }
    }
    free(P);
    return 1;
}

us_status us_net_init(us_net **out, const us_sim *sim, const us_net_config *cfg, int obs_size,
                      int max_batch, uint64_t seed, us_err *err) {
    *out = NULL;
    if (cfg->dim < 2 || cfg->dim > 1024)
        return us_err_set(err, US_EINVAL, NULL, 0, "dim", "expected 2..1024, found %d", cfg->dim);
    if (cfg->hidden < 2 || cfg->hidden > 4096)
        return us_err_set(err, US_EINVAL, NULL, 0, "hidden", "expected 2..4096, found %d",
                          cfg->hidden);
    if (cfg->hist_len < 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "hist-len", "expected >= 0, found %d",
                          cfg->hist_len);
    if (obs_size < 1 || obs_size % 2 != 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "obs_size", "expected 1 + 2k, found %d",
                          obs_size);
    if (max_batch < 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_batch", "expected >= 1, found %d",
                          max_batch);
    us_net *n = calloc(1, sizeof *n);
    if (!n) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    n->sim = sim;
    n->cfg = *cfg;
    n->V = us_sim_n_items(sim);
    n->D = cfg->dim;
    n->Hd = cfg->hidden;
    n->K = cfg->hist_len;
    n->obs_size = obs_size;
    n->n_pairs = (obs_size - 1) / 2;
    n->max_batch = max_batch;
    const size_t V = (size_t)n->V, D = (size_t)n->D, Hd = (size_t)n->Hd;
    const size_t sizes[T_COUNT] = {V * D, NREACT * D, Hd * 2 * D, Hd, D * Hd, D, V * D, V, Hd, 1};
    nn_block_layout(&n->blk, sizes, T_COUNT);
    n->mem = calloc(n->blk.total, sizeof *n->mem);
    const size_t Bm = (size_t)max_batch, wide = Hd > D ? Hd : D;
    n->z = malloc(Bm * 2 * D * sizeof(float));
    n->pre1 = malloc(Bm * Hd * sizeof(float));
    n->h1 = malloc(Bm * Hd * sizeof(float));
    n->h = malloc(Bm * D * sizeof(float));
    n->nh = malloc(Bm * sizeof(int));
    n->np = malloc(Bm * sizeof(int));
    n->dz = malloc(Bm * 2 * D * sizeof(float));
    n->d1 = malloc(Bm * Hd * sizeof(float));
    n->dh = malloc(Bm * D * sizeof(float));
    n->t1 = malloc(Bm * wide * sizeof(float));
    if (!n->mem || !n->z || !n->pre1 || !n->h1 || !n->h || !n->nh || !n->np || !n->dz ||
        !n->d1 || !n->dh || !n->t1) {
        us_net_free(n);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL,
                          "out of memory for a net of %zu parameters", n->blk.nparams);
    }
    for (int t = 0; t < T_COUNT; t++) {
        n->p[t] = nn_block_tensor(&n->blk, n->mem, NN_PARAMS, (size_t)t);
        n->g[t] = nn_block_tensor(&n->blk, n->mem, NN_GRADS, (size_t)t);
    }
    /* Init: embeddings N(0, 0.02²) (or E, O from text), the MLP Xavier-uniform (ReLU gain
     * √2 for W1), biases 0 (o from popularity with pop_init), the value head N(0, 0.01²) so
     * the first values are near 0. The output embeddings' small norm keeps the first policy
     * near uniform, or near popularity with pop_init. */
    us_rng rng;
    us_rng_seed(&rng, seed, 0x6e6574u); /* "net" */
    nn_init_normal(n->p[T_E], V * D, 0.0f, 0.02f, &rng);
    nn_init_normal(n->p[T_R], NREACT * D, 0.0f, 0.02f, &rng);
    nn_init_xavier_uniform(n->p[T_W1], n->Hd, 2 * n->D, sqrtf(2.0f), &rng);
    nn_init_xavier_uniform(n->p[T_W2], n->D, n->Hd, 1.0f, &rng);
    nn_init_normal(n->p[T_O], V * D, 0.0f, 0.02f, &rng);
    nn_init_normal(n->p[T_WV], Hd, 0.0f, 0.01f, &rng);
    if (cfg->text_init) text_init(n, &rng);
    if (cfg->pop_init > 0) pop_init(n, cfg->pop_init);
    *out = n;
    return US_OK;
}

void us_net_free(us_net *n) {
    if (!n) return;
    free(n->mem);
    free(n->z);
    free(n->pre1);
    free(n->h1);
    free(n->h);
    free(n->nh);
    free(n->np);
    free(n->dz);
    free(n->d1);
    free(n->dh);
    free(n->t1);
    free(n);
}

/* z row b from observation ob, with the embedding tensors E and R (the parameters, or a
 * direction for jvp). Counts into *nh, *np. */
static void encode_row(const us_net *n, const int32_t *ob, const float *E, const float *R,
                       float *z, int *nh, int *np) {
    const int D = n->D;
    memset(z, 0, 2 * (size_t)D * sizeof *z);
    int cnt = 0;
    if (n->K > 0) {
        const int32_t *items;
        const int8_t *labels;
        const int len = us_sim_history(n->sim, ob[0], &items, &labels);
        const int from = len > n->K ? len - n->K : 0;
        /* Σ_j (E[i_j] + R[l_j]) = Σ_j E[i_j] + Σ_l count_l·R[l] */
        int per_label[3] = {0, 0, 0};
        for (int j = from; j < len; j++) {
            ag_axpy(z, 1.0f, E + (size_t)items[j] * D, (size_t)D);
            per_label[hist_row(labels[j])]++;
        }
        for (int l = 0; l < 3; l++)
            if (per_label[l]) ag_axpy(z, (float)per_label[l], R + (size_t)l * D, (size_t)D);
        cnt = len - from;
        if (cnt > 0) ag_affine(z, z, (size_t)D, 1.0f / (float)cnt, 0.0f);
    }
    *nh = cnt;
    int pc = 0;
    float *ze = z + D;
    int per_reaction[2] = {0, 0};
    for (int j = 0; j < n->n_pairs; j++) {
        const int32_t it = ob[1 + 2 * j], re = ob[2 + 2 * j];
        if (it < 0) continue;
        US_ASSERT(it < n->V);
        ag_axpy(ze, 1.0f, E + (size_t)it * D, (size_t)D);
        per_reaction[re == 1]++;
        pc++;
    }
    for (int l = 0; l < 2; l++)
        if (per_reaction[l])
            ag_axpy(ze, (float)per_reaction[l], R + (size_t)(3 + l) * D, (size_t)D);
    if (pc > 0) ag_affine(ze, ze, (size_t)D, 1.0f / (float)pc, 0.0f);
    *np = pc;
}

static void net_forward(us_net *n, const int32_t *obs, int B, float *scores, float *values) {
    US_ASSERT(B >= 1 && B <= n->max_batch);
    const int D = n->D, Hd = n->Hd;
    n->B = B;
    n->obs = obs;
    n->items = NULL;
    for (int b = 0; b < B; b++) {
        const int32_t *ob = obs + (size_t)b * n->obs_size;
        US_ASSERT(ob[0] >= 0 && ob[0] < us_sim_n_users(n->sim));
        encode_row(n, ob, n->p[T_E], n->p[T_R], n->z + (size_t)b * 2 * D, &n->nh[b], &n->np[b]);
    }
    /* h1 = relu(W1·z + b1);  h = W2·h1 + b2 */
    nn_linear_forward(n->pre1, n->z, n->p[T_W1], n->p[T_B1], B, 2 * D, Hd);
    nn_relu_forward(n->h1, n->pre1, (size_t)B * Hd);
    nn_linear_forward(n->h, n->h1, n->p[T_W2], n->p[T_B2], B, Hd, D);
    /* h += a: the history's mean reaches the scores directly (a residual path), so scores
     * start as the items' similarity to what the user met */
    for (int b = 0; b < B; b++)
        for (int c = 0; c < D; c++) n->h[(size_t)b * D + c] += n->z[(size_t)b * 2 * D + c];
    /* scores = O·h + o (one sgemm for the batch);  value = w_v·h1 + b_v */
    if (scores) nn_linear_forward(scores, n->h, n->p[T_O], n->p[T_OB], B, D, n->V);
    if (values) nn_linear_forward(values, n->h1, n->p[T_WV], n->p[T_BV], B, Hd, 1);
}

/* The trunk's backward, from dh (B, D) and the value's gradient (dvalues, or NULL) down to
 * the embeddings; dh is the caller's, filled by the score head's backward. */
static void trunk_backward(us_net *n, const float *dvalues, int B);

static void net_backward(us_net *n, const float *dscores, const float *dvalues, int B) {
    US_ASSERT(B == n->B);
    const int D = n->D;
    memset(n->dh, 0, (size_t)B * D * sizeof(float));
    /* scores = O·h + o:  dh += dscores·O, dO += dscoresᵀ·h, do += Σ_b dscores */
    if (dscores)
        nn_linear_backward(n->dh, n->g[T_O], n->g[T_OB], dscores, n->h, n->p[T_O], B, D, n->V);
    trunk_backward(n, dvalues, B);
}

/* The scores of one item per row: q[b] = O[i_b]·h_b + o[i_b], after the trunk's forward. */
static void net_forward_at(us_net *n, const int32_t *obs, int B, const int32_t *items,
                           float *q) {
    net_forward(n, obs, B, NULL, NULL);
    const int D = n->D;
    for (int b = 0; b < B; b++) {
        US_ASSERT(items[b] >= 0 && items[b] < n->V);
        const float *o = n->p[T_O] + (size_t)items[b] * D, *h = n->h + (size_t)b * D;
        float s = 0.0f;
        for (int c = 0; c < D; c++) s += o[c] * h[c];
        q[b] = s + n->p[T_OB][items[b]];
    }
    n->items = items;
}

/* Backward of net_forward_at: dh_b = dq_b·O[i_b], dO[i_b] += dq_b·h_b, do[i_b] += dq_b (only
 * the rows' items get a score gradient), then the trunk. */
static void net_backward_at(us_net *n, const float *dq, int B) {
    US_ASSERT(B == n->B && n->items);
    const int D = n->D;
    memset(n->dh, 0, (size_t)B * D * sizeof(float));
    for (int b = 0; b < B; b++) {
        const int32_t i = n->items[b];
        ag_axpy(n->dh + (size_t)b * D, dq[b], n->p[T_O] + (size_t)i * D, (size_t)D);
        ag_axpy(n->g[T_O] + (size_t)i * D, dq[b], n->h + (size_t)b * D, (size_t)D);
        n->g[T_OB][i] += dq[b];
    }
    trunk_backward(n, NULL, B);
}

static void trunk_backward(us_net *n, const float *dvalues, int B) {
    const int D = n->D, Hd = n->Hd;
    memset(n->d1, 0, (size_t)B * Hd * sizeof(float));
    memset(n->dz, 0, (size_t)B * 2 * D * sizeof(float));
    /* value = w_v·h1 + b_v */
    if (dvalues)
        nn_linear_backward(n->d1, n->g[T_WV], n->g[T_BV], dvalues, n->h1, n->p[T_WV], B, Hd, 1);
    /* h = W2·h1 + b2 */
    nn_linear_backward(n->d1, n->g[T_W2], n->g[T_B2], n->dh, n->h1, n->p[T_W2], B, Hd, D);
    /* h1 = relu(pre1): d(pre1) = d(h1)·[pre1 > 0], into t1 */
    float *dpre = n->t1;
    memset(dpre, 0, (size_t)B * Hd * sizeof(float));
    nn_relu_backward(dpre, n->d1, n->pre1, (size_t)B * Hd);
    /* pre1 = W1·z + b1 */
    nn_linear_backward(n->dz, n->g[T_W1], n->g[T_B1], dpre, n->z, n->p[T_W1], B, 2 * D, Hd);
    /* h = W2·h1 + b2 + a: a gets dh too */
    for (int b = 0; b < B; b++)
        for (int c = 0; c < D; c++) n->dz[(size_t)b * 2 * D + c] += n->dh[(size_t)b * D + c];
    /* z = [mean_H (E[i] + R[l]), mean_P (E[i] + R[3 + r])]: each averaged row gets dz / count */
    float *dE = n->g[T_E], *dR = n->g[T_R];
    for (int b = 0; b < B; b++) {
        const int32_t *ob = n->obs + (size_t)b * n->obs_size;
        const float *dza = n->dz + (size_t)b * 2 * D, *dze = dza + D;
        if (n->nh[b] > 0) {
            const int32_t *items;
            const int8_t *labels;
            const int len = us_sim_history(n->sim, ob[0], &items, &labels);
            const float inv = 1.0f / (float)n->nh[b];
            /* each averaged E row gets dz/count; R[l] gets count_l·dz/count */
            int per_label[3] = {0, 0, 0};
            for (int j = len - n->nh[b]; j < len; j++) {
                ag_axpy(dE + (size_t)items[j] * D, inv, dza, (size_t)D);
                per_label[hist_row(labels[j])]++;
            }
            for (int l = 0; l < 3; l++)
                if (per_label[l])
                    ag_axpy(dR + (size_t)l * D, (float)per_label[l] * inv, dza, (size_t)D);
        }
        if (n->np[b] > 0) {
            const float inv = 1.0f / (float)n->np[b];
            int per_reaction[2] = {0, 0};
            for (int j = 0; j < n->n_pairs; j++) {
                const int32_t it = ob[1 + 2 * j], re = ob[2 + 2 * j];
                if (it < 0) continue;
                ag_axpy(dE + (size_t)it * D, inv, dze, (size_t)D);
                per_reaction[re == 1]++;
            }
            for (int l = 0; l < 2; l++)
                if (per_reaction[l])
                    ag_axpy(dR + (size_t)(3 + l) * D, (float)per_reaction[l] * inv, dze, (size_t)D);
        }
    }
}

static void net_jvp(us_net *n, const float *dparams, int B, float *dscores) {
    US_ASSERT(B == n->B);
    const int D = n->D, Hd = n->Hd;
    const float *q[T_COUNT]; /* the direction, tensor by tensor */
    for (int t = 0; t < T_COUNT; t++) q[t] = dparams + n->blk.offsets[t];
    /* ż: the encoder is linear in (E, R), so ż is the encoder applied to the direction */
    int nh, np;
    for (int b = 0; b < B; b++)
        encode_row(n, n->obs + (size_t)b * n->obs_size, q[T_E], q[T_R],
                   n->dz + (size_t)b * 2 * D, &nh, &np);
    /* pre1' = W1·ż + Ẇ1·z + ḃ1;  h1' = pre1'·[pre1 > 0] */
    nn_linear_forward(n->d1, n->dz, n->p[T_W1], NULL, B, 2 * D, Hd);
    nn_linear_forward(n->t1, n->z, q[T_W1], q[T_B1], B, 2 * D, Hd);
    for (size_t k = 0; k < (size_t)B * Hd; k++)
        n->d1[k] = n->pre1[k] > 0.0f ? n->d1[k] + n->t1[k] : 0.0f;
    /* h' = W2·h1' + Ẇ2·h1 + ḃ2 */
    nn_linear_forward(n->dh, n->d1, n->p[T_W2], NULL, B, Hd, D);
    nn_linear_forward(n->t1, n->h1, q[T_W2], q[T_B2], B, Hd, D);
    for (size_t k = 0; k < (size_t)B * D; k++) n->dh[k] += n->t1[k];
    for (int b = 0; b < B; b++) /* + ȧ, the residual path */
        for (int c = 0; c < D; c++) n->dh[(size_t)b * D + c] += n->dz[(size_t)b * 2 * D + c];
    /* scores' = O·h' + Ȯ·h + ȯ: two products over the catalogue, the second added in place by
     * sgemm (beta 1), so no (B, V) scratch */
    nn_linear_forward(dscores, n->dh, n->p[T_O], q[T_OB], B, D, n->V);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, n->V, D, 1.0f, n->h, D, q[T_O], D,
                1.0f, dscores, n->V);
}

void us_net_zero_grad(us_net *n) {
    memset(nn_block_section(&n->blk, n->mem, NN_GRADS), 0, n->blk.nparams * sizeof(float));
}
size_t us_net_nparams(const us_net *n) { return n->blk.nparams; }
float *us_net_params(us_net *n) { return nn_block_section(&n->blk, n->mem, NN_PARAMS); }
float *us_net_grads(us_net *n) { return nn_block_section(&n->blk, n->mem, NN_GRADS); }
float *us_net_adam_m(us_net *n) { return nn_block_section(&n->blk, n->mem, NN_ADAM_M); }
float *us_net_adam_v(us_net *n) { return nn_block_section(&n->blk, n->mem, NN_ADAM_V); }
int us_net_n_items(const us_net *n) { return n->V; }
int us_net_obs_size(const us_net *n) { return n->obs_size; }
const us_net_config *us_net_config_of(const us_net *n) { return &n->cfg; }

void us_net_copy(us_net *dst, const us_net *src) {
    US_ASSERT(dst->blk.nparams == src->blk.nparams && dst->V == src->V);
    memcpy(dst->mem, src->mem, src->blk.nparams * sizeof(float));
}

/* The public passes: the bodies above, timed into the profile when the net has one. */
void us_net_forward(us_net *n, const int32_t *obs, int B, float *scores, float *values) {
    const double t0 = n->prof ? us_now() : 0.0;
    net_forward(n, obs, B, scores, values);
    if (n->prof) n->prof->forward += us_now() - t0;
}

void us_net_backward(us_net *n, const float *dscores, const float *dvalues, int B) {
    const double t0 = n->prof ? us_now() : 0.0;
    net_backward(n, dscores, dvalues, B);
    if (n->prof) n->prof->backward += us_now() - t0;
}

void us_net_forward_at(us_net *n, const int32_t *obs, int B, const int32_t *items, float *q) {
    const double t0 = n->prof ? us_now() : 0.0;
    net_forward_at(n, obs, B, items, q);
    if (n->prof) n->prof->forward += us_now() - t0;
}

void us_net_backward_at(us_net *n, const float *dq, int B) {
    const double t0 = n->prof ? us_now() : 0.0;
    net_backward_at(n, dq, B);
    if (n->prof) n->prof->backward += us_now() - t0;
}

void us_net_jvp(us_net *n, const float *dparams, int B, float *dscores) {
    const double t0 = n->prof ? us_now() : 0.0;
    net_jvp(n, dparams, B, dscores);
    if (n->prof) n->prof->forward += us_now() - t0;
}

void ag_net_profile(us_net *n, ag_prof *prof) { n->prof = prof; }

ag_prof *ag_net_prof(const us_net *n) { return n->prof; }
