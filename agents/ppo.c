/* ppo.c — Proximal Policy Optimization (Schulman et al. 2017) with the details of CleanRL's
 * ppo.py: rollouts of n-steps per env (rollout.c), GAE(λ), several epochs of shuffled
 * minibatches, advantage normalization per minibatch, the clipped surrogate, a clipped value
 * loss, an entropy bonus, global gradient-norm clipping, Adam with its learning rate annealed
 * linearly to 0 over the run, and an optional early stop on approximate KL. The actor and the
 * critic are separate nets, as in SB3's and CleanRL's defaults for vector observations (a
 * shared trunk let the value loss's gradient crowd out the policy's under one norm clip):
 * the actor's item scores are the logits, masked to unmet items; the critic's value head is V.
 * It reports approx_kl, clipfrac, explained_variance, entropy, value_loss and policy_loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/internal.h"

/* Every hyperparameter, declared once, with stable-baselines3's PPO defaults (the reference
 * of the speed comparison) and the paper's discount. SB3's n_steps counts steps per env; its
 * default of 2048 with one env is a rollout of 2048 rows, which the default 8 envs here reach
 * with 256 steps each. CleanRL's ppo.py is the same algorithm with other defaults (lr 2.5e-4
 * annealed, 4 minibatches, 4 epochs, a clipped value loss, entropy 0.01): set them to get it. */
static const us_hparam ppo_hparams[] = {
    AG_NET_HPARAMS,
    AG_GAMMA_HPARAM,
    {"learning-rate", 3e-4, 0, 1, 0, "Adam's learning rate"},
    {"anneal-lr", 0, 0, 1, 1, "1: anneal the learning rate linearly to 0 over the run"},
    {"n-steps", 256, 1, 100000, 1, "steps of each env per rollout"},
    {"batch-size", 64, 1, 1000000, 1, "rows per minibatch (divides n-steps x envs)"},
    {"n-epochs", 10, 1, 1000, 1, "epochs over each rollout"},
    {"gae-lambda", 0.95, 0, 1, 0, "lambda of generalized advantage estimation"},
    {"norm-adv", 1, 0, 1, 1, "1: normalize advantages within each minibatch"},
    {"clip-coef", 0.2, 0, 10, 0, "the surrogate's clipping coefficient epsilon"},
    {"clip-vloss", 0, 0, 1, 1, "1: clip the value loss around the old values as the surrogate"},
    {"ent-coef", 0, 0, 10, 0, "entropy bonus coefficient"},
    {"vf-coef", 0.5, 0, 100, 0, "value loss coefficient"},
    {"max-grad-norm", 0.5, 0, 1e6, 0, "clip the gradient's global norm to this (0: no clip)"},
    {"target-kl", 0, 0, 10, 0, "stop a rollout's epochs once approx_kl exceeds it (0: never)"},
};
#define PPO_NHP ((int)(sizeof ppo_hparams / sizeof ppo_hparams[0]))

typedef struct ppo {
    us_net *net; /* the actor */
    us_net *vf;  /* the critic */
    ag_rollout ro;
    int M;            /* minibatch rows */
    int32_t *perm;    /* (T·N) the epoch's row order */
    int32_t *mb_obs;  /* (M, obs_size) */
    float *mb_logits; /* (M, V) */
    float *mb_dlogits;/* (M, V) */
    float *mb_values, *mb_dvalues; /* (M) */
    float *mb_logp;   /* (M, V) */
    int32_t *mb_actions; /* (M) */
    float *mb_old_logp, *mb_adv, *mb_ret, *mb_old_values; /* (M) */
    uint64_t updates; /* rollouts learned from */
    int adam_t;       /* Adam steps taken */
    us_rng shuffle;   /* minibatch order */
} ppo;

static void ppo_free(void *self) {
    ppo *p = self;
    if (!p) return;
    us_net_free(p->net);
    us_net_free(p->vf);
    ag_rollout_free(&p->ro);
    free(p->perm);
    free(p->mb_obs);
    free(p->mb_logits);
    free(p->mb_dlogits);
    free(p->mb_values);
    free(p->mb_dvalues);
    free(p->mb_logp);
    free(p->mb_actions);
    free(p->mb_old_logp);
    free(p->mb_adv);
    free(p->mb_ret);
    free(p->mb_old_values);
    free(p);
}

static us_status ppo_init(void **self, ag_ctx *ctx, us_err *err) {
    *self = NULL;
    const int T = (int)ag_hp(ctx, "n-steps"), N = ctx->n_envs;
    const int rows = T * N, bs = (int)ag_hp(ctx, "batch-size");
    if (rows % bs != 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "batch-size",
                          "expected a divisor of n-steps x envs = %d, found %d", rows, bs);
    ppo *p = calloc(1, sizeof *p);
    if (!p) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    p->M = bs;
    const int batch = p->M > N ? p->M : N;
    const us_net_config nc = us_net_config_from(ctx->hp);
    us_status st = us_net_init(&p->net, ctx->sim, &nc, ctx->obs_size, batch, ctx->seed, err);
    if (st == US_OK)
        st = us_net_init(&p->vf, ctx->sim, &nc, ctx->obs_size, batch, ctx->seed + 1, err);
    if (st == US_OK) {
        ag_net_profile(p->net, &ctx->prof);
        ag_net_profile(p->vf, &ctx->prof);
        st = ag_rollout_init(&p->ro, T, N, ctx->obs_size, ctx->n_items, err);
    }
    const size_t M = (size_t)p->M, V = (size_t)ctx->n_items;
    p->perm = malloc((size_t)rows * sizeof *p->perm);
    p->mb_obs = malloc(M * ctx->obs_size * sizeof *p->mb_obs);
    p->mb_logits = malloc(M * V * sizeof *p->mb_logits);
    p->mb_dlogits = malloc(M * V * sizeof *p->mb_dlogits);
    p->mb_values = malloc(M * sizeof *p->mb_values);
    p->mb_dvalues = malloc(M * sizeof *p->mb_dvalues);
    p->mb_logp = malloc(M * V * sizeof *p->mb_logp);
    p->mb_actions = malloc(M * sizeof *p->mb_actions);
    p->mb_old_logp = malloc(M * sizeof(float));
    p->mb_adv = malloc(M * sizeof(float));
    p->mb_ret = malloc(M * sizeof(float));
    p->mb_old_values = malloc(M * sizeof(float));
    if (st == US_OK && (!p->perm || !p->mb_obs || !p->mb_logits || !p->mb_dlogits ||
                        !p->mb_values || !p->mb_dvalues || !p->mb_logp || !p->mb_actions ||
                        !p->mb_old_logp || !p->mb_adv || !p->mb_ret || !p->mb_old_values))
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    if (st != US_OK) {
        ppo_free(p);
        return st;
    }
    us_rng_seed(&p->shuffle, ctx->seed, 0x70706fu); /* "ppo" */
    *self = p;
    return US_OK;
}

double ag_ppo_loss(const ag_pg_batch *b, double clip, int clip_vloss, double ent_coef,
                   double vf_coef, float *dlogits, float *dvalues, ag_pg_stats *st) {
    const int M = b->M, V = b->V;
    double loss = 0.0;
    memset(st, 0, sizeof *st);
    /* the probabilities go where the gradient will be written (ag_policy_grad_row reads
     * each before it writes it) */
    ag_log_softmax_rows(b->logp, dlogits, b->logits, M, V);
    for (int k = 0; k < M; k++) {
        const float *lp = b->logp + (size_t)k * V;
        float *dl = dlogits + (size_t)k * V;
        const int32_t a = b->actions[k];
        const double A = b->adv[k];
        /* ratio = π_new(a)/π_old(a);  pg = max(-A·ratio, -A·clip(ratio, 1-ε, 1+ε)) */
        const double logratio = (double)lp[a] - b->old_logp[k], ratio = exp(logratio);
        const double rc = ratio < 1 - clip ? 1 - clip : ratio > 1 + clip ? 1 + clip : ratio;
        const double un = -A * ratio, cl = -A * rc;
        const double H = ag_entropy(lp, dl, V);
        st->policy_loss += (un > cl ? un : cl) / M;
        st->entropy += H / M;
        /* ∂pg/∂log π(a) = -A·ratio where the unclipped term is the max, else 0; the entropy
         * term is -ent_coef·H */
        const double g_logp = un >= cl ? -A * ratio / M : 0.0;
        ag_policy_grad_row(dl, lp, dl, V, a, g_logp, -ent_coef / M);
        /* value: 0.5·(v - R)², or with clip_vloss 0.5·max((v - R)², (v_old + clip(v - v_old,
         * ±ε) - R)²), whose derivative is that of the larger term (∂vc/∂v = 1 inside the clip,
         * 0 outside) */
        const double v = b->values[k], R = b->ret[k], vo = b->old_values[k];
        const double d_un = v - R;
        double dv = d_un, vl = 0.5 * d_un * d_un;
        if (clip_vloss) {
            const double dvo = v - vo;
            const double vc = vo + (dvo < -clip ? -clip : dvo > clip ? clip : dvo);
            const double d_cl = vc - R;
            if (d_cl * d_cl > d_un * d_un) {
                vl = 0.5 * d_cl * d_cl;
                dv = fabs(dvo) < clip ? d_cl : 0.0;
            }
        }
        st->value_loss += vl / M;
        dvalues[k] = (float)(vf_coef * dv / M);
        /* diagnostics: approx_kl = (ratio - 1) - log ratio (Schulman's k3), clipfrac */
        st->approx_kl += ((ratio - 1.0) - logratio) / M;
        st->clipfrac += (fabs(ratio - 1.0) > clip) / (double)M;
    }
    loss = st->policy_loss - ent_coef * st->entropy + vf_coef * st->value_loss;
    return loss;
}

/* Mean and standard deviation (unbiased, as torch.std) of the minibatch's advantages. */
static void adv_stats(const ag_rollout *ro, const int32_t *rows, int M, double *mean,
                      double *sd) {
    double s = 0.0;
    for (int k = 0; k < M; k++) s += ro->adv[rows[k]];
    *mean = s / M;
    double v = 0.0;
    for (int k = 0; k < M; k++) v += (ro->adv[rows[k]] - *mean) * (ro->adv[rows[k]] - *mean);
    *sd = M > 1 ? sqrt(v / (M - 1)) : 0.0;
}

static us_status ppo_iterate(void *self, ag_ctx *ctx, ag_iter *it, us_err *err) {
    (void)err;
    ppo *p = self;
    ag_rollout *ro = &p->ro;
    const int V = ctx->n_items, os = ctx->obs_size, M = p->M;
    const int rows = ro->T * ro->N;
    const double gamma = ag_hp(ctx, "gamma"), clip = ag_hp(ctx, "clip-coef");
    const double ent_coef = ag_hp(ctx, "ent-coef"), vf_coef = ag_hp(ctx, "vf-coef");
    const double target_kl = ag_hp(ctx, "target-kl");
    const int epochs = (int)ag_hp(ctx, "n-epochs");
    const int norm_adv = (int)ag_hp(ctx, "norm-adv"), clip_v = (int)ag_hp(ctx, "clip-vloss");

    /* learning rate: lr·(1 - done/total), from the steps done before this rollout */
    double lr = ag_hp(ctx, "learning-rate");
    if (ag_hp(ctx, "anneal-lr") != 0.0) {
        const double frac = 1.0 - (double)ctx->steps / (double)ctx->total_steps;
        lr *= frac > 0.0 ? frac : 0.0;
    }

    /* 1. experience, and its advantages */
    ag_rollout_collect(ro, ctx, p->net, p->vf);
    ag_gae(ro, gamma, ag_hp(ctx, "gae-lambda"));

    /* 2. epochs of shuffled minibatches */
    ag_pg_stats sum;
    memset(&sum, 0, sizeof sum);
    int n_mb = 0, stop = 0;
    for (int k = 0; k < rows; k++) p->perm[k] = k;
    for (int ep = 0; ep < epochs && !stop; ep++) {
        us_rng_shuffle(&p->shuffle, p->perm, (size_t)rows, sizeof *p->perm);
        double epoch_kl = 0.0;
        for (int mb = 0; mb < rows / M; mb++) {
            const int32_t *idx = p->perm + (size_t)mb * M;
            double amean = 0.0, asd = 1.0;
            if (norm_adv) adv_stats(ro, idx, M, &amean, &asd);
            for (int k = 0; k < M; k++) {
                const int32_t r = idx[k];
                memcpy(p->mb_obs + (size_t)k * os, ro->obs + (size_t)r * os,
                       (size_t)os * sizeof(int32_t));
                p->mb_actions[k] = ro->actions[r];
                p->mb_old_logp[k] = ro->logp[r];
                p->mb_adv[k] = (float)(norm_adv ? (ro->adv[r] - amean) / (asd + 1e-8) : ro->adv[r]);
                p->mb_ret[k] = ro->ret[r];
                p->mb_old_values[k] = ro->values[r];
            }
            us_net_forward(p->net, p->mb_obs, M, p->mb_logits, NULL);
            us_net_forward(p->vf, p->mb_obs, M, NULL, p->mb_values);
            ag_mask_rows(ctx->sim, p->mb_obs, M, os, p->mb_logits, V);
            const ag_pg_batch b = {M, V, p->mb_logits, p->mb_values, p->mb_actions,
                                   p->mb_old_logp, p->mb_adv, p->mb_ret, p->mb_old_values,
                                   p->mb_logp};
            ag_pg_stats st;
            ag_ppo_loss(&b, clip, clip_v, ent_coef, vf_coef, p->mb_dlogits, p->mb_dvalues, &st);
            us_net_zero_grad(p->net);
            us_net_zero_grad(p->vf);
            us_net_backward(p->net, p->mb_dlogits, NULL, M);
            us_net_backward(p->vf, NULL, p->mb_dvalues, M);
            us_net *const both[2] = {p->net, p->vf};
            ag_adam_nets(both, 2, (float)lr, 0.9f, 0.999f, 1e-5f, ag_hp(ctx, "max-grad-norm"),
                         ++p->adam_t);
            sum.approx_kl += st.approx_kl;
            sum.clipfrac += st.clipfrac;
            sum.entropy += st.entropy;
            sum.value_loss += st.value_loss;
            sum.policy_loss += st.policy_loss;
            epoch_kl += st.approx_kl;
            n_mb++;
        }
        if (target_kl > 0.0 && epoch_kl / (rows / M) > target_kl) stop = 1;
    }
    p->updates++;
    it->steps = (uint64_t)rows;
    it->diag[0] = sum.approx_kl / n_mb;
    it->diag[1] = sum.clipfrac / n_mb;
    it->diag[2] = ag_explained_variance(ro->values, ro->ret, (size_t)rows);
    it->diag[3] = sum.entropy / n_mb;
    it->diag[4] = sum.value_loss / n_mb;
    it->diag[5] = sum.policy_loss / n_mb;
    it->diag[6] = lr;
    return US_OK;
}

static us_net *ppo_policy_net(void *self) { return ((ppo *)self)->net; }

typedef struct ppo_state {
    uint64_t updates;
    int32_t adam_t;
    us_rng shuffle;
} ppo_state;

static us_status ppo_save(void *self, ag_ckpt *ck, us_err *err) {
    ppo *p = self;
    ppo_state s;
    memset(&s, 0, sizeof s);
    s.updates = p->updates;
    s.adam_t = p->adam_t;
    s.shuffle = p->shuffle;
    us_status st = ag_ckpt_put(ck, "ppo", &s, sizeof s, err);
    /* each net's whole block: parameters, gradients, Adam's moments */
    if (st == US_OK)
        st = ag_ckpt_put(ck, "ppo_actor", us_net_params(p->net),
                         4 * us_net_nparams(p->net) * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "ppo_critic", us_net_params(p->vf),
                         4 * us_net_nparams(p->vf) * sizeof(float), err);
    return st;
}

static us_status ppo_load(void *self, const ag_ckpt *ck, const char *path, us_err *err) {
    ppo *p = self;
    ppo_state s;
    us_status st = ag_ckpt_take(ck, path, "ppo", &s, sizeof s, err);
    if (st == US_OK && s.adam_t < 0)
        st = us_err_set(err, US_EFORMAT, path, 0, "ppo", "a negative step count");
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "ppo_actor", us_net_params(p->net),
                          4 * us_net_nparams(p->net) * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "ppo_critic", us_net_params(p->vf),
                          4 * us_net_nparams(p->vf) * sizeof(float), err);
    if (st == US_OK) {
        p->updates = s.updates;
        p->adam_t = s.adam_t;
        p->shuffle = s.shuffle;
    }
    return st;
}

const ag_algo ag_ppo = {
    .name = "ppo",
    .hp = ppo_hparams,
    .n_hp = PPO_NHP,
    .default_envs = 8,
    .diag_names = {"approx_kl", "clipfrac", "explained_variance", "entropy", "value_loss",
                   "policy_loss", "learning_rate", NULL},
    .init = ppo_init,
    .iterate = ppo_iterate,
    .policy_net = ppo_policy_net,
    .save = ppo_save,
    .load = ppo_load,
    .free = ppo_free,
};
