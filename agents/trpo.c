/* trpo.c — Trust Region Policy Optimization (Schulman et al. 2015) with the details of
 * sb3-contrib's TRPO: rollouts of n-steps per env (rollout.c), GAE(λ), advantages normalized
 * over the rollout, and one policy step per rollout on the surrogate
 *   L(θ) = mean(ratio·A),  ratio = π_θ(a|s) / π_old(a|s),
 * along the natural gradient s ≈ F⁻¹g (g = ∇L, F the Fisher matrix of the policy over the
 * rollout's states) found by conjugate gradient on Fisher-vector products, scaled so that the
 * quadratic model of the mean KL(π_old ‖ π_θ) equals target-kl, then shortened by a
 * backtracking line search that accepts a step only when the measured mean KL stays within
 * target-kl and the surrogate improves (otherwise the policy keeps its parameters). The critic
 * is a separate net whose value head is fitted with Adam on the returns, several epochs of
 * minibatches per rollout; the actor's item scores are the logits, masked to unmet items.
 *
 * A Fisher-vector product needs no second derivatives: at θ_old the Hessian of the mean KL in
 * the parameters is the Gauss-Newton product F = Jᵀ·H·J / B, with J the Jacobian of a row's
 * logits and H = diag(p) - p·pᵀ the Hessian of the KL in the logits (p the old probabilities,
 * 0 for masked items), so F·v is a forward-mode derivative (us_net_jvp) followed by a backward.
 *
 * It reports policy_objective (the surrogate after the step), value_loss, kl_divergence (the
 * mean KL of the step taken, 0 when the line search kept the old policy: sb3-contrib logs the
 * last step tried instead), explained_variance, entropy and is_line_search_success. It does
 * not anneal, clip gradients or add an entropy bonus: sb3-contrib's TRPO has none of them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/internal.h"

/* Every hyperparameter, declared once, with sb3-contrib's TRPO defaults and the paper's
 * discount. sb3-contrib's n_steps of 2048 with one env is a rollout of 2048 rows, which the
 * default 8 envs here reach with 256 steps each. */
static const us_hparam trpo_hparams[] = {
    AG_NET_HPARAMS,
    AG_GAMMA_HPARAM,
    {"learning-rate", 1e-3, 0, 1, 0, "the critic's Adam learning rate (the policy takes "
                                     "natural-gradient steps)"},
    {"n-steps", 256, 1, 100000, 1, "steps of each env per rollout"},
    {"batch-size", 128, 1, 1000000, 1, "rows per critic minibatch (divides n-steps x envs)"},
    {"n-critic-updates", 10, 1, 1000, 1, "epochs of critic minibatches over each rollout"},
    {"gae-lambda", 0.95, 0, 1, 0, "lambda of generalized advantage estimation"},
    {"normalize-advantage", 1, 0, 1, 1, "1: normalize the advantages of each rollout"},
    {"target-kl", 0.01, 1e-8, 10, 0, "the trust region: largest mean KL(old || new) of a step"},
    {"cg-max-steps", 15, 1, 1000, 1, "conjugate-gradient iterations for the natural gradient"},
    {"cg-damping", 0.1, 0, 1000, 0, "added to the Fisher matrix's diagonal: (F + damping I) s = g"},
    {"line-search-shrinking-factor", 0.8, 0, 1, 0, "the step's shrinking factor per failed try"},
    {"line-search-max-iter", 10, 1, 1000, 1, "steps the line search tries at most"},
    {"sub-sampling-factor", 1, 1, 1000000, 1, "Fisher-vector products use every k-th row (1: all)"},
};
#define TRPO_NHP ((int)(sizeof trpo_hparams / sizeof trpo_hparams[0]))

typedef struct trpo {
    us_net *pi; /* the actor (max_batch T·N: the policy step sees the whole rollout) */
    us_net *vf; /* the critic */
    ag_rollout ro;
    int M;            /* critic minibatch rows */
    int Bf;           /* rows of the Fisher-vector products: every f-th of the rollout's */
    float *logp0;     /* (T·N, V) log π_old of every row (-INFINITY at masked items) */
    float *p0;        /* (T·N, V) π_old of every row (0 at masked items) */
    float *work;      /* (T·N, V) logits, then their gradients, J·v or a trial's log π */
    float *adv;       /* (T·N) the advantages the surrogate weighs (normalized or not) */
    int32_t *sub_obs; /* (Bf, obs_size) the sub-sampled rows (sub-sampling-factor > 1) */
    float *theta0;    /* (P) θ_old, put back when the line search fails */
    float *dir;       /* (P) a direction as floats, for us_net_jvp */
    double *g, *s, *Fs; /* (P) the surrogate's gradient, the natural direction, F·s */
    double *cg;       /* (3P) conjugate gradient's scratch */
    int32_t *perm;    /* (T·N) the critic epoch's row order */
    int32_t *mb_obs;  /* (M, obs_size) */
    float *mb_values, *mb_dvalues, *mb_ret; /* (M) */
    uint64_t updates; /* rollouts learned from */
    int32_t adam_t;   /* the critic's Adam steps */
    us_rng shuffle;   /* critic minibatch order */
} trpo;

static void trpo_free(void *self) {
    trpo *p = self;
    if (!p) return;
    us_net_free(p->pi);
    us_net_free(p->vf);
    ag_rollout_free(&p->ro);
    free(p->logp0);
    free(p->p0);
    free(p->work);
    free(p->adv);
    free(p->sub_obs);
    free(p->theta0);
    free(p->dir);
    free(p->g);
    free(p->s);
    free(p->Fs);
    free(p->cg);
    free(p->perm);
    free(p->mb_obs);
    free(p->mb_values);
    free(p->mb_dvalues);
    free(p->mb_ret);
    free(p);
}

static us_status trpo_init(void **self, ag_ctx *ctx, us_err *err) {
    *self = NULL;
    const int T = (int)ag_hp(ctx, "n-steps"), N = ctx->n_envs;
    const int rows = T * N, bs = (int)ag_hp(ctx, "batch-size");
    const int f = (int)ag_hp(ctx, "sub-sampling-factor");
    if (rows % bs != 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "batch-size",
                          "expected a divisor of n-steps x envs = %d, found %d", rows, bs);
    trpo *p = calloc(1, sizeof *p);
    if (!p) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    p->M = bs;
    p->Bf = (rows + f - 1) / f;
    const us_net_config nc = us_net_config_from(ctx->hp);
    us_status st = us_net_init(&p->pi, ctx->sim, &nc, ctx->obs_size, rows, ctx->seed, err);
    if (st == US_OK)
        st = us_net_init(&p->vf, ctx->sim, &nc, ctx->obs_size, bs > N ? bs : N, ctx->seed + 1,
                         err);
    if (st == US_OK) {
        ag_net_profile(p->pi, &ctx->prof);
        ag_net_profile(p->vf, &ctx->prof);
        st = ag_rollout_init(&p->ro, T, N, ctx->obs_size, ctx->n_items, err);
    }
    if (st != US_OK) {
        trpo_free(p);
        return st;
    }
    const size_t RV = (size_t)rows * ctx->n_items, P = us_net_nparams(p->pi);
    const size_t M = (size_t)p->M, os = (size_t)ctx->obs_size;
    p->logp0 = malloc(RV * sizeof *p->logp0);
    p->p0 = malloc(RV * sizeof *p->p0);
    p->work = malloc(RV * sizeof *p->work);
    p->adv = malloc((size_t)rows * sizeof *p->adv);
    p->sub_obs = malloc((size_t)p->Bf * os * sizeof *p->sub_obs);
    p->theta0 = malloc(P * sizeof *p->theta0);
    p->dir = malloc(P * sizeof *p->dir);
    p->g = malloc(P * sizeof *p->g);
    p->s = malloc(P * sizeof *p->s);
    p->Fs = malloc(P * sizeof *p->Fs);
    p->cg = malloc(3 * P * sizeof *p->cg);
    p->perm = malloc((size_t)rows * sizeof *p->perm);
    p->mb_obs = malloc(M * os * sizeof *p->mb_obs);
    p->mb_values = malloc(M * sizeof *p->mb_values);
    p->mb_dvalues = malloc(M * sizeof *p->mb_dvalues);
    p->mb_ret = malloc(M * sizeof *p->mb_ret);
    if (!p->logp0 || !p->p0 || !p->work || !p->adv || !p->sub_obs || !p->theta0 || !p->dir ||
        !p->g || !p->s || !p->Fs || !p->cg || !p->perm || !p->mb_obs || !p->mb_values ||
        !p->mb_dvalues || !p->mb_ret) {
        trpo_free(p);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL,
                          "out of memory for a TRPO rollout of %d rows over %d items", rows,
                          ctx->n_items);
    }
    us_rng_seed(&p->shuffle, ctx->seed, 0x7472706fu); /* "trpo" */
    *self = p;
    return US_OK;
}

/* ---- the natural gradient ---- */

static double dot(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void ag_fisher_vp(const ag_fisher *f, const double *v, double *out) {
    const size_t P = us_net_nparams(f->net);
    const int B = f->B, V = f->V;
    for (size_t i = 0; i < P; i++) f->dir[i] = (float)v[i];
    /* u = J·v: each row's logits' derivative along v (B, V) */
    us_net_jvp(f->net, f->dir, B, f->work);
    /* w = H·u / B with H = diag(p) - p·pᵀ:  w_j = p_j·(u_j - Σ_i p_i·u_i) / B, in place
     * (masked items: p = 0, so w = 0 whatever their u) */
    for (int b = 0; b < B; b++) {
        const float *lp = f->logp + (size_t)b * f->stride;
        const float *pr = f->p ? f->p + (size_t)b * f->stride : NULL;
        float *u = f->work + (size_t)b * V;
        double pu = 0.0;
        for (int j = 0; j < V; j++)
            if (lp[j] > -INFINITY) pu += (pr ? (double)pr[j] : exp((double)lp[j])) * u[j];
        for (int j = 0; j < V; j++)
            u[j] = lp[j] > -INFINITY
                       ? (float)((pr ? (double)pr[j] : exp((double)lp[j])) * (u[j] - pu) / B)
                       : 0.0f;
    }
    /* F·v = Jᵀ·w, then the damping */
    us_net_zero_grad(f->net);
    us_net_backward(f->net, f->work, NULL, B);
    const float *g = us_net_grads(f->net);
    for (size_t i = 0; i < P; i++) out[i] = (double)g[i] + f->damping * v[i];
}

int ag_conjugate_gradient(const ag_fisher *f, const double *g, double *x, int max_steps,
                          double *scratch) {
    const size_t P = us_net_nparams(f->net);
    double *r = scratch, *d = scratch + P, *Fd = scratch + 2 * P;
    /* x = 0, so the residual r = g - F·x and the first direction d are g */
    memset(x, 0, P * sizeof *x);
    memcpy(r, g, P * sizeof *r);
    memcpy(d, g, P * sizeof *d);
    double rr = dot(r, r, P);
    int k = 0;
    while (k < max_steps && rr > 1e-10) {
        ag_fisher_vp(f, d, Fd);
        const double dFd = dot(d, Fd, P);
        if (!(dFd > 0.0)) break; /* F + damping·I is positive semi-definite: only rounding */
        /* α = rᵀr / dᵀFd;  x += α·d;  r -= α·F·d;  d = r + (r'ᵀr' / rᵀr)·d */
        const double alpha = rr / dFd;
        for (size_t i = 0; i < P; i++) {
            x[i] += alpha * d[i];
            r[i] -= alpha * Fd[i];
        }
        const double rr_new = dot(r, r, P);
        const double beta = rr_new / rr;
        for (size_t i = 0; i < P; i++) d[i] = r[i] + beta * d[i];
        rr = rr_new;
        k++;
    }
    return k;
}

/* ---- one iteration: rollout, policy step, critic epochs ---- */

/* The trial policy's surrogate mean(A·π(a)/π_old(a)) and mean KL(π_old ‖ π) over the rows,
 * from its logits in p->work (rows, V; masked here as the old ones), which become its
 * log-probabilities. */
static void trial(trpo *p, int rows, int V, double *surrogate, double *kl) {
    const ag_rollout *ro = &p->ro;
    for (size_t k = 0; k < (size_t)rows * V; k++)
        if (p->logp0[k] == -INFINITY) p->work[k] = -INFINITY;
    ag_log_softmax_rows(p->work, NULL, p->work, rows, V);
    double L = 0.0, D = 0.0;
    for (int k = 0; k < rows; k++) {
        const float *lp0 = p->logp0 + (size_t)k * V, *lp = p->work + (size_t)k * V;
        const int32_t a = ro->actions[k];
        L += p->adv[k] * exp((double)lp[a] - lp0[a]);
        /* KL(π_old ‖ π) = Σ_j p_old,j·(log p_old,j - log p_j) over unmasked j */
        double d = 0.0;
        const float *p0 = p->p0 + (size_t)k * V;
        for (int j = 0; j < V; j++)
            if (lp0[j] > -INFINITY) d += (double)p0[j] * ((double)lp0[j] - lp[j]);
        D += d;
    }
    *surrogate = L / rows;
    *kl = D / rows;
}

/* The policy step on the rollout: gradient, natural direction, line search. Writes the
 * surrogate and KL of the policy it leaves, and 1 when it moved. */
static int policy_step(trpo *p, ag_ctx *ctx, double *surrogate, double *kl) {
    const ag_rollout *ro = &p->ro;
    const int V = ctx->n_items, os = ctx->obs_size, rows = ro->T * ro->N;
    const size_t P = us_net_nparams(p->pi);
    const int f = (int)ag_hp(ctx, "sub-sampling-factor");
    const double target_kl = ag_hp(ctx, "target-kl");

    /* π_old over every row. The ratio's denominator comes from this forward too, not from
     * the rollout's (the same parameters, rows batched otherwise): at θ_old the ratio is then
     * exactly 1 and the surrogate mean(A), the baseline a trial must beat. */
    us_net_forward(p->pi, ro->obs, rows, p->work, NULL);
    ag_mask_rows(ctx->sim, ro->obs, rows, os, p->work, V);
    ag_log_softmax_rows(p->logp0, p->p0, p->work, rows, V);
    double L0 = 0.0;
    for (int k = 0; k < rows; k++) L0 += p->adv[k];
    L0 /= rows;
    *surrogate = L0;
    *kl = 0.0;

    /* g = ∇L at θ_old: ∂L/∂log π(a_k) = A_k·ratio_k / rows with ratio 1, through the softmax
     * (ag_policy_grad_row) and the net */
    for (int k = 0; k < rows; k++)
        ag_policy_grad_row(p->work + (size_t)k * V, p->logp0 + (size_t)k * V,
                           p->p0 + (size_t)k * V, V,
                           ro->actions[k], p->adv[k] / rows, 0.0);
    us_net_zero_grad(p->pi);
    us_net_backward(p->pi, p->work, NULL, rows);
    const float *grad = us_net_grads(p->pi);
    for (size_t i = 0; i < P; i++) p->g[i] = grad[i];

    /* The Fisher matrix over every f-th row: their forward at θ_old stays in the net for the
     * products (with f = 1 the forward above already is) */
    if (f > 1) {
        for (int k = 0; k < p->Bf; k++)
            memcpy(p->sub_obs + (size_t)k * os, ro->obs + (size_t)k * f * os,
                   (size_t)os * sizeof(int32_t));
        us_net_forward(p->pi, p->sub_obs, p->Bf, NULL, NULL);
    }
    const ag_fisher F = {p->pi, p->Bf, V, p->logp0, (size_t)f * V, ag_hp(ctx, "cg-damping"),
                         p->work, p->dir, p->p0};
    /* s ≈ (F + damping·I)⁻¹·g;  the largest step β·s whose quadratic KL model ½β²·sᵀFs is
     * target_kl:  β = sqrt(2·target_kl / sᵀFs) */
    ag_conjugate_gradient(&F, p->g, p->s, (int)ag_hp(ctx, "cg-max-steps"), p->cg);
    ag_fisher_vp(&F, p->s, p->Fs);
    const double sFs = dot(p->s, p->Fs, P);
    if (!(sFs > 0.0) || !isfinite(sFs)) return 0; /* g = 0: nothing to step along */
    const double beta = sqrt(2.0 * target_kl / sFs);

    /* Backtracking: θ = θ_old + c·β·s for c = 1, shrink, shrink², ...; the first trial whose
     * KL is within the region and whose surrogate beats L0 is kept */
    float *theta = us_net_params(p->pi);
    memcpy(p->theta0, theta, P * sizeof *theta);
    const double shrink = ag_hp(ctx, "line-search-shrinking-factor");
    const int tries = (int)ag_hp(ctx, "line-search-max-iter");
    double c = 1.0;
    for (int t = 0; t < tries; t++, c *= shrink) {
        int finite = 1;
        for (size_t i = 0; i < P; i++) {
            theta[i] = p->theta0[i] + (float)(c * beta * p->s[i]);
            finite &= isfinite(theta[i]) != 0;
        }
        if (!finite) continue;
        us_net_forward(p->pi, ro->obs, rows, p->work, NULL);
        double Lt, Dt;
        trial(p, rows, V, &Lt, &Dt);
        if (Dt <= target_kl && Lt > L0) {
            *surrogate = Lt;
            *kl = Dt;
            return 1;
        }
    }
    memcpy(theta, p->theta0, P * sizeof *theta);
    return 0;
}

/* n-critic-updates epochs of shuffled minibatches of mean((V(s) - R)²) (SB3's mse_loss), Adam
 * without clipping; returns the mean loss. */
static double critic_epochs(trpo *p, ag_ctx *ctx) {
    const ag_rollout *ro = &p->ro;
    const int rows = ro->T * ro->N, M = p->M, os = ctx->obs_size;
    const int epochs = (int)ag_hp(ctx, "n-critic-updates");
    const float lr = (float)ag_hp(ctx, "learning-rate");
    double sum = 0.0;
    int n_mb = 0;
    for (int k = 0; k < rows; k++) p->perm[k] = k;
    for (int ep = 0; ep < epochs; ep++) {
        us_rng_shuffle(&p->shuffle, p->perm, (size_t)rows, sizeof *p->perm);
        for (int mb = 0; mb < rows / M; mb++) {
            const int32_t *idx = p->perm + (size_t)mb * M;
            for (int k = 0; k < M; k++) {
                memcpy(p->mb_obs + (size_t)k * os, ro->obs + (size_t)idx[k] * os,
                       (size_t)os * sizeof(int32_t));
                p->mb_ret[k] = ro->ret[idx[k]];
            }
            us_net_forward(p->vf, p->mb_obs, M, NULL, p->mb_values);
            double loss = 0.0;
            for (int k = 0; k < M; k++) {
                const double d = (double)p->mb_values[k] - p->mb_ret[k];
                loss += d * d / M;
                p->mb_dvalues[k] = (float)(2.0 * d / M); /* ∂/∂v of mean((v - R)²) */
            }
            us_net_zero_grad(p->vf);
            us_net_backward(p->vf, NULL, p->mb_dvalues, M);
            /* SB3's policies give Adam eps 1e-5 */
            ag_adam(p->vf, lr, 0.9f, 0.999f, 1e-5f, 0.0, ++p->adam_t);
            sum += loss;
            n_mb++;
        }
    }
    return sum / n_mb;
}

static us_status trpo_iterate(void *self, ag_ctx *ctx, ag_iter *it, us_err *err) {
    (void)err;
    trpo *p = self;
    ag_rollout *ro = &p->ro;
    const int rows = ro->T * ro->N;

    /* 1. experience, and its advantages, normalized over the rollout (torch's unbiased std) */
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
    for (int k = 0; k < rows; k++)
        p->adv[k] = norm ? (float)((ro->adv[k] - amean) / (asd + 1e-8)) : ro->adv[k];

    /* 2. the policy's trust-region step, 3. the critic on the returns */
    double surrogate, kl;
    const int moved = policy_step(p, ctx, &surrogate, &kl);
    const double value_loss = critic_epochs(p, ctx);
    p->updates++;
    it->steps = (uint64_t)rows;
    it->diag[0] = surrogate;
    it->diag[1] = value_loss;
    it->diag[2] = kl;
    it->diag[3] = ag_explained_variance(ro->values, ro->ret, (size_t)rows);
    it->diag[4] = ro->entropy;
    it->diag[5] = moved;
    return US_OK;
}

static us_net *trpo_policy_net(void *self) { return ((trpo *)self)->pi; }

typedef struct trpo_state {
    uint64_t updates;
    int32_t adam_t;
    us_rng shuffle;
} trpo_state;

static us_status trpo_save(void *self, ag_ckpt *ck, us_err *err) {
    trpo *p = self;
    trpo_state s;
    memset(&s, 0, sizeof s);
    s.updates = p->updates;
    s.adam_t = p->adam_t;
    s.shuffle = p->shuffle;
    us_status st = ag_ckpt_put(ck, "trpo", &s, sizeof s, err);
    /* the actor's parameters (it has no optimizer state); the critic's whole block:
     * parameters, gradients, Adam's moments */
    if (st == US_OK)
        st = ag_ckpt_put(ck, "trpo_actor", us_net_params(p->pi),
                         us_net_nparams(p->pi) * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "trpo_critic", us_net_params(p->vf),
                         4 * us_net_nparams(p->vf) * sizeof(float), err);
    return st;
}

static us_status trpo_load(void *self, const ag_ckpt *ck, const char *path, us_err *err) {
    trpo *p = self;
    trpo_state s;
    us_status st = ag_ckpt_take(ck, path, "trpo", &s, sizeof s, err);
    if (st == US_OK && s.adam_t < 0)
        st = us_err_set(err, US_EFORMAT, path, 0, "trpo", "a negative step count");
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "trpo_actor", us_net_params(p->pi),
                          us_net_nparams(p->pi) * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "trpo_critic", us_net_params(p->vf),
                          4 * us_net_nparams(p->vf) * sizeof(float), err);
    if (st == US_OK) {
        p->updates = s.updates;
        p->adam_t = s.adam_t;
        p->shuffle = s.shuffle;
    }
    return st;
}

const ag_algo ag_trpo = {
    .name = "trpo",
    .hp = trpo_hparams,
    .n_hp = TRPO_NHP,
    .default_envs = 8,
    .diag_names = {"policy_objective", "value_loss", "kl_divergence", "explained_variance",
                   "entropy", "is_line_search_success", NULL},
    .init = trpo_init,
    .iterate = trpo_iterate,
    .policy_net = trpo_policy_net,
    .save = trpo_save,
    .load = trpo_load,
    .free = trpo_free,
};
