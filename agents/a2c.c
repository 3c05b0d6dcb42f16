/* a2c.c — synchronous Advantage Actor-Critic (Mnih et al. 2016, the synchronous variant), with
 * stable-baselines3's A2C details: short rollouts of n-steps over every env (rollout.c),
 * advantages by GAE with λ = 1 (n-step returns), one gradient step per rollout on
 *   loss = -mean(A·log π(a|s)) - ent_coef·mean(H(π(·|s))) + vf_coef·mean((R - V(s))²),
 * global gradient-norm clipping, and RMSprop (PyTorch's, as SB3 uses it) or Adam. The actor's
 * item scores are the logits (masked to unmet items); the critic is a separate net. Reports
 * explained_variance, entropy, value_loss, policy_loss and grad_norm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/internal.h"
#include "core/nn.h"

/* Every hyperparameter, declared once, with stable-baselines3's A2C defaults and the paper's
 * discount. */
static const us_hparam a2c_hparams[] = {
    AG_NET_HPARAMS,
    AG_GAMMA_HPARAM,
    {"learning-rate", 7e-4, 0, 1, 0, "the optimizer's learning rate"},
    {"n-steps", 5, 1, 100000, 1, "steps of each env per update"},
    {"gae-lambda", 1.0, 0, 1, 0, "lambda of GAE (1: plain n-step returns)"},
    {"ent-coef", 0, 0, 10, 0, "entropy bonus coefficient"},
    {"vf-coef", 0.5, 0, 100, 0, "value loss coefficient"},
    {"max-grad-norm", 0.5, 0, 1e6, 0, "clip the gradient's global norm to this (0: no clip)"},
    {"rms-prop", 1, 0, 1, 1, "1: RMSprop (alpha 0.99, eps 1e-5); 0: Adam"},
    {"rms-prop-eps", 1e-5, 0, 1, 0, "RMSprop's epsilon"},
    {"normalize-advantage", 0, 0, 1, 1, "1: normalize the advantages of each rollout"},
};
#define A2C_NHP ((int)(sizeof a2c_hparams / sizeof a2c_hparams[0]))

typedef struct a2c {
    us_net *pi, *vf;
    ag_rollout ro;
    float *logits, *dlogits; /* (T·N, V) */
    float *logp;             /* (T·N, V) */
    float *values, *dvalues; /* (T·N) */
    float *adv;              /* (T·N) normalized advantages */
    int t;                   /* optimizer steps */
} a2c;

static void a2c_free(void *self) {
    a2c *p = self;
    if (!p) return;
    us_net_free(p->pi);
    us_net_free(p->vf);
    ag_rollout_free(&p->ro);
    free(p->logits);
    free(p->dlogits);
    free(p->logp);
    free(p->adv);
    free(p->values);
    free(p->dvalues);
    free(p);
}

static us_status a2c_init(void **self, ag_ctx *ctx, us_err *err) {
    *self = NULL;
    a2c *p = calloc(1, sizeof *p);
    if (!p) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    const int T = (int)ag_hp(ctx, "n-steps"), N = ctx->n_envs, rows = T * N;
    const us_net_config nc = us_net_config_from(ctx->hp);
    us_status st = us_net_init(&p->pi, ctx->sim, &nc, ctx->obs_size, rows, ctx->seed, err);
    if (st == US_OK) st = us_net_init(&p->vf, ctx->sim, &nc, ctx->obs_size, rows, ctx->seed + 1, err);
    if (st == US_OK) {
        ag_net_profile(p->pi, &ctx->prof);
        ag_net_profile(p->vf, &ctx->prof);
    }
    if (st == US_OK) st = ag_rollout_init(&p->ro, T, N, ctx->obs_size, ctx->n_items, err);
    const size_t RV = (size_t)rows * ctx->n_items;
    p->logits = malloc(RV * sizeof(float));
    p->dlogits = malloc(RV * sizeof(float));
    p->logp = malloc(RV * sizeof(float));
    p->adv = malloc((size_t)rows * sizeof(float));
    p->values = malloc((size_t)rows * sizeof(float));
    p->dvalues = malloc((size_t)rows * sizeof(float));
    if (st == US_OK && (!p->logits || !p->dlogits || !p->logp || !p->adv || !p->values || !p->dvalues))
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    if (st != US_OK) {
        a2c_free(p);
        return st;
    }
    *self = p;
    return US_OK;
}

double ag_a2c_loss(const ag_pg_batch *b, double ent_coef, double vf_coef, float *dlogits,
                   float *dvalues, ag_pg_stats *st) {
    const int M = b->M, V = b->V;
    memset(st, 0, sizeof *st);
    /* the probabilities go where the gradient will be written (ag_policy_grad_row reads
     * each before it writes it) */
    ag_log_softmax_rows(b->logp, dlogits, b->logits, M, V);
    for (int k = 0; k < M; k++) {
        const float *lp = b->logp + (size_t)k * V;
        float *dl = dlogits + (size_t)k * V;
        const int32_t a = b->actions[k];
        const double A = b->adv[k];
        st->policy_loss -= A * lp[a] / M;
        st->entropy += ag_entropy(lp, dl, V) / M;
        /* ∂/∂log π(a) of -A·log π(a)/M;  ∂/∂H of -ent_coef·H/M */
        ag_policy_grad_row(dl, lp, dl, V, a, -A / M, -ent_coef / M);
        const double d = b->values[k] - b->ret[k];
        st->value_loss += d * d / M;
        dvalues[k] = (float)(vf_coef * 2.0 * d / M); /* ∂/∂v of vf_coef·mean((R - v)²) */
    }
    return st->policy_loss - ent_coef * st->entropy + vf_coef * st->value_loss;
}

/* PyTorch's RMSprop (no momentum, not centered) over a net, its square averages kept in the
 * block's second-moment section: s ← α·s + (1 - α)·g²;  p ← p - lr·g / (sqrt(s) + eps). */
static void rmsprop(us_net *net, float lr, float alpha, float eps) {
    const size_t n = us_net_nparams(net);
    float *p = us_net_params(net), *s = us_net_adam_v(net);
    const float *g = us_net_grads(net);
    for (size_t i = 0; i < n; i++) {
        s[i] = alpha * s[i] + (1.0f - alpha) * g[i] * g[i];
        p[i] -= lr * g[i] / (sqrtf(s[i]) + eps);
    }
}

static us_status a2c_iterate(void *self, ag_ctx *ctx, ag_iter *it, us_err *err) {
    (void)err;
    a2c *p = self;
    ag_rollout *ro = &p->ro;
    const int V = ctx->n_items, os = ctx->obs_size, rows = ro->T * ro->N;
    const double ent_coef = ag_hp(ctx, "ent-coef"), vf_coef = ag_hp(ctx, "vf-coef");
    const float lr = (float)ag_hp(ctx, "learning-rate");

    /* 1. n-steps of every env, and n-step (GAE λ) advantages */
    ag_rollout_collect(ro, ctx, p->pi, p->vf);
    ag_gae(ro, ag_hp(ctx, "gamma"), ag_hp(ctx, "gae-lambda"));
    double amean = 0.0, asd = 1.0;
    const int norm = (int)ag_hp(ctx, "normalize-advantage");
    if (norm) {
        double s = 0.0, v = 0.0;
        for (int k = 0; k < rows; k++) s += ro->adv[k];
        amean = s / rows;
        for (int k = 0; k < rows; k++) v += (ro->adv[k] - amean) * (ro->adv[k] - amean);
        asd = rows > 1 ? sqrt(v / (rows - 1)) : 1.0;
    }

    /* 2. one gradient step on the whole rollout (the forward again: the rollout's rows) */
    us_net_forward(p->pi, ro->obs, rows, p->logits, NULL);
    us_net_forward(p->vf, ro->obs, rows, NULL, p->values);
    ag_mask_rows(ctx->sim, ro->obs, rows, os, p->logits, V);
    if (norm)
        for (int k = 0; k < rows; k++) p->adv[k] = (float)((ro->adv[k] - amean) / (asd + 1e-8));
    const ag_pg_batch b = {rows, V, p->logits, p->values, ro->actions, ro->logp,
                           norm ? p->adv : ro->adv, ro->ret, ro->values, p->logp};
    ag_pg_stats st;
    ag_a2c_loss(&b, ent_coef, vf_coef, p->dlogits, p->dvalues, &st);
    us_net_zero_grad(p->pi);
    us_net_zero_grad(p->vf);
    us_net_backward(p->pi, p->dlogits, NULL, rows);
    us_net_backward(p->vf, NULL, p->dvalues, rows);
    us_net *const both[2] = {p->pi, p->vf};
    const double max_norm = ag_hp(ctx, "max-grad-norm");
    double gnorm;
    p->t++;
    if (ag_hp(ctx, "rms-prop") != 0.0) {
        const double t0 = us_now();
        gnorm = ag_clip_nets(both, 2, max_norm);
        const float eps = (float)ag_hp(ctx, "rms-prop-eps");
        rmsprop(p->pi, lr, 0.99f, eps);
        rmsprop(p->vf, lr, 0.99f, eps);
        ctx->prof.optimizer += us_now() - t0;
    } else {
        gnorm = ag_adam_nets(both, 2, lr, 0.9f, 0.999f, 1e-8f, max_norm, p->t);
    }
    it->steps = (uint64_t)rows;
    it->diag[0] = ag_explained_variance(ro->values, ro->ret, (size_t)rows);
    it->diag[1] = st.entropy;
    it->diag[2] = st.value_loss;
    it->diag[3] = st.policy_loss;
    it->diag[4] = gnorm;
    return US_OK;
}

static us_net *a2c_policy_net(void *self) { return ((a2c *)self)->pi; }

static us_status a2c_save(void *self, ag_ckpt *ck, us_err *err) {
    a2c *p = self;
    const int32_t t = p->t;
    us_status st = ag_ckpt_put(ck, "a2c", &t, sizeof t, err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "a2c_actor", us_net_params(p->pi),
                         4 * us_net_nparams(p->pi) * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "a2c_critic", us_net_params(p->vf),
                         4 * us_net_nparams(p->vf) * sizeof(float), err);
    return st;
}

static us_status a2c_load(void *self, const ag_ckpt *ck, const char *path, us_err *err) {
    a2c *p = self;
    int32_t t;
    us_status st = ag_ckpt_take(ck, path, "a2c", &t, sizeof t, err);
    if (st == US_OK && t < 0) st = us_err_set(err, US_EFORMAT, path, 0, "a2c", "a negative step count");
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "a2c_actor", us_net_params(p->pi),
                          4 * us_net_nparams(p->pi) * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "a2c_critic", us_net_params(p->vf),
                          4 * us_net_nparams(p->vf) * sizeof(float), err);
    if (st == US_OK) p->t = t;
    return st;
}

const ag_algo ag_a2c = {
    .name = "a2c",
    .hp = a2c_hparams,
    .n_hp = A2C_NHP,
    .default_envs = 16,
    .diag_names = {"explained_variance", "entropy", "value_loss", "policy_loss", "grad_norm",
                   NULL},
    .init = a2c_init,
    .iterate = a2c_iterate,
    .policy_net = a2c_policy_net,
    .save = a2c_save,
    .load = a2c_load,
    .free = a2c_free,
};
