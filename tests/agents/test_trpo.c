/* TRPO: its Fisher-vector products against differences of the mean KL's gradient (and its
 * quadratic term), conjugate gradient's residual, that no update leaves the trust region (the
 * KL measured again on a replay of the rollout), that it learns on the fixture store (beating
 * random and popularity on held-out users, a stated share of the oracle), and that runs are
 * deterministic and resume bit for bit whatever the thread count. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/internal.h"
#include "tests/agents/agents_fixture.h"
#include "tests/gradcheck.h"
#include "tests/test.h"

enum { FB = 4, FPAIRS = 6, FOBS = 1 + 2 * FPAIRS };

/* A small policy net (D 8, Hd 16, 5 history items) with weights larger than the init's, so
 * every path carries curvature, at FB observations (users 3, 17, 42, 99: an empty episode,
 * then longer ones with both reactions); logp0 (FB, V) its masked log-probabilities at θ_old,
 * its last forward those rows. */
typedef struct fisher_ctx {
    us_sim *sim;
    us_net *net;
    int V;
    size_t P;
    int32_t obs[FB * FOBS];
    float *logp0, *p0, *scores, *work, *dir, *theta0; /* p0: the probabilities beside logp0 */
    double *lp0d; /* (FB, V) logp0 in double, for the KL's differences */
    double *v, *Fv, *g1, *g2, *cg;
} fisher_ctx;

static int fisher_ctx_init(fisher_ctx *c, us_sim *sim) {
    memset(c, 0, sizeof *c);
    c->sim = sim;
    c->V = us_sim_n_items(sim);
    us_net_config nc = {.dim = 8, .hidden = 16, .hist_len = 5, .text_init = 0};
    us_err err;
    if (us_net_init(&c->net, sim, &nc, FOBS, FB, 21, &err) != US_OK) return -1;
    c->P = us_net_nparams(c->net);
    const size_t BV = (size_t)FB * c->V, P = c->P;
    c->logp0 = malloc(BV * sizeof(float));
    c->p0 = malloc(BV * sizeof(float));
    c->lp0d = malloc(BV * sizeof(double));
    c->scores = malloc(BV * sizeof(float));
    c->work = malloc(BV * sizeof(float));
    c->dir = malloc(P * sizeof(float));
    c->theta0 = malloc(P * sizeof(float));
    c->v = malloc(P * sizeof(double));
    c->Fv = malloc(P * sizeof(double));
    c->g1 = malloc(P * sizeof(double));
    c->g2 = malloc(P * sizeof(double));
    c->cg = malloc(3 * P * sizeof(double));
    us_rng rng;
    us_rng_seed(&rng, 31, 4);
    us_gradcheck_fill(us_net_params(c->net), P, -0.5f, 0.5f, &rng);
    memcpy(c->theta0, us_net_params(c->net), P * sizeof(float));
    const int users[FB] = {3, 17, 42, 99};
    for (int k = 0; k < FB * FOBS; k++) c->obs[k] = -1;
    for (int b = 0; b < FB; b++) {
        int32_t *ob = c->obs + b * FOBS;
        ob[0] = users[b];
        for (int j = FPAIRS - 2 * b; j < FPAIRS; j++) { /* 0, 2, 4, 6 pairs, the newest last */
            ob[1 + 2 * j] = (13 * j + 7 * b + 5) % c->V;
            ob[2 + 2 * j] = (j + b) % 2;
        }
    }
    return 0;
}

static void fisher_ctx_free(fisher_ctx *c) {
    us_net_free(c->net);
    free(c->logp0);
    free(c->p0);
    free(c->lp0d);
    free(c->scores);
    free(c->work);
    free(c->dir);
    free(c->theta0);
    free(c->v);
    free(c->Fv);
    free(c->g1);
    free(c->g2);
    free(c->cg);
}

/* out (V) = log-softmax of the row z in double (-INFINITY stays). */
static void log_softmax_d(double *out, const float *z, int V) {
    float mx = -INFINITY;
    for (int j = 0; j < V; j++) mx = z[j] > mx ? z[j] : mx;
    double s = 0.0;
    for (int j = 0; j < V; j++)
        if (z[j] > -INFINITY) s += exp((double)z[j] - mx);
    const double lse = mx + log(s);
    for (int j = 0; j < V; j++) out[j] = z[j] > -INFINITY ? (double)z[j] - lse : -INFINITY;
}

/* θ_old's forward over the rows, masked by ag_mask_rows (and, keep_only > 0, to that many
 * items a row), into logp0 (float, as the learner keeps it) and lp0d. */
static void old_policy(fisher_ctx *c, int keep_only) {
    us_net_forward(c->net, c->obs, FB, c->scores, NULL);
    ag_mask_rows(c->sim, c->obs, FB, FOBS, c->scores, c->V);
    for (int b = 0; keep_only > 0 && b < FB; b++) {
        int kept = 0;
        for (int j = 0; j < c->V; j++) {
            float *s = c->scores + (size_t)b * c->V + j;
            if (*s > -INFINITY && kept < keep_only && (j + 3 * b) % 7 == 0) kept++;
            else *s = -INFINITY;
        }
    }
    ag_log_softmax_rows(c->logp0, c->p0, c->scores, FB, c->V);
    for (int b = 0; b < FB; b++)
        log_softmax_d(c->lp0d + (size_t)b * c->V, c->scores + (size_t)b * c->V, c->V);
}

/* The mean KL(π_old ‖ π_θ) over the rows at the net's parameters, and (grad not NULL) its
 * gradient: ∂KL/∂z_j = (p_j - p_old,j) / B for each row's logits z, through the backward.
 * Log-probabilities in double: a float log-softmax's rounding (its log-sum-exp's, shared by a
 * row) would be a percent of the small KLs here. */
static double mean_kl(fisher_ctx *c, double *grad) {
    us_net_forward(c->net, c->obs, FB, c->scores, NULL);
    double kl = 0.0, lp[1024];
    US_ASSERT(c->V <= 1024);
    for (int b = 0; b < FB; b++) {
        const double *lp0 = c->lp0d + (size_t)b * c->V;
        float *z = c->scores + (size_t)b * c->V, *dz = c->work + (size_t)b * c->V;
        for (int j = 0; j < c->V; j++)
            if (lp0[j] == -INFINITY) z[j] = -INFINITY;
        log_softmax_d(lp, z, c->V);
        for (int j = 0; j < c->V; j++) {
            dz[j] = 0.0f;
            if (lp0[j] == -INFINITY) continue;
            const double p0 = exp(lp0[j]);
            kl += p0 * (lp0[j] - lp[j]) / FB;
            dz[j] = (float)((exp(lp[j]) - p0) / FB);
        }
    }
    if (grad) {
        us_net_zero_grad(c->net);
        us_net_backward(c->net, c->work, NULL, FB);
        const float *g = us_net_grads(c->net);
        for (size_t i = 0; i < c->P; i++) grad[i] = g[i];
    }
    return kl;
}

static ag_fisher fisher_of(fisher_ctx *c, double damping) {
    /* with the probabilities beside the log-probabilities, as the learner passes them */
    const ag_fisher f = {c->net, FB, c->V, c->logp0, (size_t)c->V, damping, c->work, c->dir,
                         c->p0};
    return f;
}

static double norm2(const double *a, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * a[i];
    return sqrt(s);
}

TEST(agents_trpo_fisher_vp_matches_differences) {
    us_sim *sim = us_test_agents_sim();
    if (!sim) SKIP("the agents fixture store could not be built (see above)");
    fisher_ctx c;
    REQUIRE(fisher_ctx_init(&c, sim) == 0);
    const size_t P = c.P;
    float *theta = us_net_params(c.net);
    us_rng rng;
    us_rng_seed(&rng, 8, 9);
    float *vf = malloc(P * sizeof *vf), *tp = malloc(P * sizeof *tp), *tm = malloc(P * sizeof *tm);
    us_gradcheck_fill(vf, P, -1.0f, 1.0f, &rng);
    /* θ± = θ_old ± ε·v as floats; v becomes the step actually taken, (θ+ - θ-) / 2ε, so the
     * rounding of θ± is not counted as error (as the gradient harness does) */
    const double eps = 1e-3;
    for (size_t i = 0; i < P; i++) {
        tp[i] = theta[i] + (float)(eps * vf[i]);
        tm[i] = theta[i] - (float)(eps * vf[i]);
        c.v[i] = ((double)tp[i] - tm[i]) / (2 * eps);
    }
    /* F·v at θ_old (damping 0) */
    old_policy(&c, 0);
    ag_fisher f = fisher_of(&c, 0.0);
    ag_fisher_vp(&f, c.v, c.Fv);
    /* against (∇KL(θ+) - ∇KL(θ-)) / 2ε: the KL's gradient is 0 at θ_old, and its Hessian
     * there is F */
    memcpy(theta, tp, P * sizeof *theta);
    mean_kl(&c, c.g1);
    memcpy(theta, tm, P * sizeof *theta);
    mean_kl(&c, c.g2);
    memcpy(theta, c.theta0, P * sizeof *theta);
    for (size_t i = 0; i < P; i++) c.g1[i] = (c.g1[i] - c.g2[i]) / (2 * eps);
    double diff = 0.0;
    for (size_t i = 0; i < P; i++) diff += (c.Fv[i] - c.g1[i]) * (c.Fv[i] - c.g1[i]);
    const double fvp_err = sqrt(diff) / norm2(c.g1, P);
    /* ... and vᵀFv against the KL's own second-order term, from the forward alone: the even
     * part of KL(θ_old + h·v) is ½h²·vᵀFv + O(h⁴). h is small enough that no ReLU switches
     * (measured: one does between h = 1e-3 and 2e-3, moving the estimate by 0.1%), and the KL
     * is summed from double log-probabilities, so the small KL is not lost to rounding */
    double vFv = 0.0;
    for (size_t i = 0; i < P; i++) vFv += c.v[i] * c.Fv[i];
    const double h = 3e-4;
    for (size_t i = 0; i < P; i++) theta[i] = c.theta0[i] + (float)(h * c.v[i]);
    const double klp = mean_kl(&c, NULL);
    for (size_t i = 0; i < P; i++) theta[i] = c.theta0[i] - (float)(h * c.v[i]);
    const double klm = mean_kl(&c, NULL);
    memcpy(theta, c.theta0, P * sizeof *theta);
    const double quad_err = fabs((klp + klm) / (h * h) - vFv) / vFv;
    printf("    F·v against differences of the KL's gradient: relative error %.2e (|F·v| %.3g); "
           "vᵀFv %.4g against the KL's quadratic term: %.2e\n", fvp_err, norm2(c.Fv, P), vFv,
           quad_err);
    /* float32 logits and gradients, sums in double: measured 1.4e-5 and 1.2e-5, so 1e-3 (tighter
     * than the harness's 1e-2 for float32: these are whole vectors, not single coordinates) */
    CHECK(fvp_err < 1e-3);
    CHECK(quad_err < 1e-3);
    CHECK(vFv > 0.0);
    /* damping adds damping·v */
    old_policy(&c, 0);
    f = fisher_of(&c, 0.1);
    ag_fisher_vp(&f, c.v, c.g2);
    f = fisher_of(&c, 0.0);
    ag_fisher_vp(&f, c.v, c.Fv);
    double derr = 0.0;
    for (size_t i = 0; i < P; i++) derr = fmax(derr, fabs(c.g2[i] - c.Fv[i] - 0.1 * c.v[i]));
    CHECK(derr < 1e-9);
    free(vf);
    free(tp);
    free(tm);
    fisher_ctx_free(&c);
    us_sim_close(sim);
}

/* ‖(F + damping·I)·x - g‖ / ‖g‖ after steps of conjugate gradient from 0, for a random g. */
static double cg_residual(fisher_ctx *c, int steps, int *taken) {
    us_rng rng;
    us_rng_seed(&rng, 12, 1);
    for (size_t i = 0; i < c->P; i++) c->g1[i] = 2.0 * us_rng_uniform(&rng) - 1.0;
    const ag_fisher f = fisher_of(c, 0.1);
    *taken = ag_conjugate_gradient(&f, c->g1, c->g2, steps, c->cg);
    ag_fisher_vp(&f, c->g2, c->Fv);
    for (size_t i = 0; i < c->P; i++) c->Fv[i] -= c->g1[i];
    return norm2(c->Fv, c->P) / norm2(c->g1, c->P);
}

TEST(agents_trpo_conjugate_gradient_solves) {
    us_sim *sim = us_test_agents_sim();
    if (!sim) SKIP("the agents fixture store could not be built (see above)");
    fisher_ctx c;
    REQUIRE(fisher_ctx_init(&c, sim) == 0);
    /* A small problem: 3 unmasked items per row make F of rank at most 4 x 2 = 8, so
     * F + 0.1·I has at most 9 distinct eigenvalues and conjugate gradient's 15 steps (the
     * default cg-max-steps) solve it up to rounding */
    old_policy(&c, 3);
    int taken;
    const double small = cg_residual(&c, 15, &taken);
    /* The whole catalogue: F of rank up to 4 x 149, but few large eigenvalues above the
     * damping's floor (measured: 8e-3 after 5 steps, 2e-7 after 15) */
    old_policy(&c, 0);
    int t5, t15;
    const double r5 = cg_residual(&c, 5, &t5), r15 = cg_residual(&c, 15, &t15);
    printf("    conjugate gradient ‖F·x - g‖ / ‖g‖: %.2e after %d steps (rank <= 8); whole "
           "catalogue %.2e after 5 steps, %.2e after 15\n", small, taken, r5, r15);
    CHECK(small < 1e-5); /* measured 5e-8 */
    CHECK(r15 < r5 && r15 < 1e-4);
    fisher_ctx_free(&c);
    us_sim_close(sim);
}

/* ---- the trust region, checked on a replay of each rollout ---- */

/* A training context as train.c makes one, for seed 1 and the store's users. */
typedef struct replay_ctx {
    ag_ctx ctx;
    us_hvalues hp;
    int32_t *users;
} replay_ctx;

static us_status replay_ctx_init(replay_ctx *r, us_sim *sim, const us_hvalues *hp, int n_envs,
                                 uint64_t total, us_err *e) {
    memset(r, 0, sizeof *r);
    r->hp = *hp;
    ag_ctx *c = &r->ctx;
    c->algo = &ag_trpo;
    c->sim = sim;
    c->n_envs = n_envs;
    us_env_config ec = us_env_config_default();
    ec.obs_len = ec.max_steps;
    c->obs_size = 1 + 2 * ec.max_steps;
    c->n_items = us_sim_n_items(sim);
    c->hp = &r->hp;
    c->seed = 1;
    c->total_steps = total;
    c->obs = malloc((size_t)n_envs * c->obs_size * sizeof(int32_t));
    c->act_rngs = malloc((size_t)n_envs * sizeof(us_rng));
    c->ep_return = calloc((size_t)n_envs, sizeof(double));
    for (int i = 0; i < n_envs; i++) c->act_rngs[i] = us_rng_derive(77, (uint64_t)i);
    us_status st = us_vecenv_init(&c->venv, sim, &ec, n_envs, 1, 1, 0, e);
    if (st == US_OK) us_vecenv_reset(c->venv, c->obs);
    return st;
}

static void replay_ctx_free(replay_ctx *r) {
    us_vecenv_free(r->ctx.venv);
    free(r->ctx.obs);
    free(r->ctx.act_rngs);
    free(r->ctx.ep_return);
}

/* Copies a's whole state (vector env, observations, action streams, episode returns) into b. */
static us_status replay_copy(replay_ctx *b, const replay_ctx *a, void *vbuf, size_t vs,
                             us_err *e) {
    us_vecenv_state_save(a->ctx.venv, vbuf);
    const int N = a->ctx.n_envs;
    memcpy(b->ctx.act_rngs, a->ctx.act_rngs, (size_t)N * sizeof(us_rng));
    memcpy(b->ctx.ep_return, a->ctx.ep_return, (size_t)N * sizeof(double));
    return us_vecenv_state_load(b->ctx.venv, vbuf, vs, b->ctx.obs, e);
}

typedef struct region_tally {
    int moved, held;
    double max_kl; /* the largest KL of a step taken */
} region_tally;

/* Eight TRPO updates on 256-row rollouts with target-kl 0.05 and damping 0.001 (the learning
 * test's: the region, not the damping, sets the step), a line search of max_iter tries and
 * Fisher-vector products over every sub-th row. Each
 * update's rollout is replayed on a copy of the envs and streams with the policy from before
 * it, and the mean KL(π_old ‖ π_new) over its rows measured here: within the region, as
 * reported; a failed line search leaves the parameters bit for bit. */
static void check_region(us_test_ctx *t_, us_sim *sim, int max_iter, int sub,
                         region_tally *tally) {
    memset(tally, 0, sizeof *tally);
    us_err e;
    us_hvalues hp;
    REQUIRE(us_agent_defaults("trpo", &hp, &e) == US_OK);
    const int N = 8, T = 32, rows = N * T, iters = 8;
    const double target_kl = 0.05;
    CHECK_OK(us_agent_set("trpo", &hp, "n-steps", T, &e), e);
    CHECK_OK(us_agent_set("trpo", &hp, "batch-size", 64, &e), e);
    CHECK_OK(us_agent_set("trpo", &hp, "target-kl", target_kl, &e), e);
    CHECK_OK(us_agent_set("trpo", &hp, "cg-damping", 0.001, &e), e);
    CHECK_OK(us_agent_set("trpo", &hp, "line-search-max-iter", max_iter, &e), e);
    CHECK_OK(us_agent_set("trpo", &hp, "sub-sampling-factor", sub, &e), e);
    replay_ctx live, rep;
    CHECK_OK(replay_ctx_init(&live, sim, &hp, N, (uint64_t)rows * iters, &e), e);
    CHECK_OK(replay_ctx_init(&rep, sim, &hp, N, (uint64_t)rows * iters, &e), e);
    void *learner = NULL;
    CHECK_OK(ag_trpo.init(&learner, &live.ctx, &e), e);
    REQUIRE(learner != NULL);
    /* the policy before the update, a critic for the replay's values (unused), its rollout */
    us_net *old = NULL, *newp = NULL, *vf = NULL;
    const us_net_config nc = us_net_config_from(&hp);
    CHECK_OK(us_net_init(&old, sim, &nc, live.ctx.obs_size, rows, 5, &e), e);
    CHECK_OK(us_net_init(&newp, sim, &nc, live.ctx.obs_size, rows, 5, &e), e);
    CHECK_OK(us_net_init(&vf, sim, &nc, live.ctx.obs_size, N, 6, &e), e);
    ag_rollout ro;
    CHECK_OK(ag_rollout_init(&ro, T, N, live.ctx.obs_size, live.ctx.n_items, &e), e);
    const size_t vs = us_vecenv_state_size(live.ctx.venv), V = (size_t)live.ctx.n_items;
    void *vbuf = malloc(vs), *vbuf2 = malloc(vs);
    float *lo = malloc((size_t)rows * V * sizeof(float));
    float *ln = malloc((size_t)rows * V * sizeof(float));
    REQUIRE(old && newp && vf && vbuf && vbuf2 && lo && ln);
    for (int k = 0; k < iters; k++) {
        CHECK_OK(replay_copy(&rep, &live, vbuf, vs, &e), e);
        us_net_copy(old, ag_trpo.policy_net(learner));
        ag_iter it;
        memset(&it, 0, sizeof it);
        CHECK_OK(ag_trpo.iterate(learner, &live.ctx, &it, &e), e);
        CHECK_EQ_INT(it.steps, rows);
        live.ctx.steps += it.steps;
        /* the replay: the old policy on the same envs and streams meets the same rows */
        ag_rollout_collect(&ro, &rep.ctx, old, vf);
        us_vecenv_state_save(live.ctx.venv, vbuf);
        us_vecenv_state_save(rep.ctx.venv, vbuf2);
        REQUIRE(memcmp(vbuf, vbuf2, vs) == 0);
        REQUIRE(memcmp(live.ctx.obs, rep.ctx.obs,
                       (size_t)N * live.ctx.obs_size * sizeof(int32_t)) == 0);
        /* mean KL(π_old ‖ π_new) over the rollout's rows, measured here */
        us_net_copy(newp, ag_trpo.policy_net(learner));
        us_net_forward(old, ro.obs, rows, lo, NULL);
        us_net_forward(newp, ro.obs, rows, ln, NULL);
        ag_mask_rows(sim, ro.obs, rows, live.ctx.obs_size, lo, (int)V);
        ag_mask_rows(sim, ro.obs, rows, live.ctx.obs_size, ln, (int)V);
        ag_log_softmax_rows(lo, NULL, lo, rows, (int)V);
        ag_log_softmax_rows(ln, NULL, ln, rows, (int)V);
        double kl = 0.0;
        for (size_t j = 0; j < (size_t)rows * V; j++)
            if (lo[j] > -INFINITY) kl += exp((double)lo[j]) * ((double)lo[j] - ln[j]);
        kl /= rows;
        const double reported = it.diag[2];
        printf("    tries %d, rows 1/%d, update %d: line search %s, KL %.5f (reported %.5f), "
               "surrogate %.4f\n", max_iter, sub, k + 1,
               it.diag[5] != 0.0 ? "accepted" : "failed", kl, reported, it.diag[0]);
        /* within the region (the measurement's float rounding aside) and as reported */
        CHECK(kl <= target_kl * (1 + 1e-4));
        CHECK(reported <= target_kl);
        CHECK(fabs(kl - reported) <= 1e-4 * target_kl + 1e-9);
        if (it.diag[5] != 0.0) {
            tally->moved++;
            tally->max_kl = fmax(tally->max_kl, kl);
            CHECK(kl > 0.0);
            CHECK(it.diag[0] > 0.0); /* beat the old surrogate, mean(A) = 0 */
        } else {
            tally->held++;
            CHECK(memcmp(us_net_params(old), us_net_params(ag_trpo.policy_net(learner)),
                         us_net_nparams(old) * sizeof(float)) == 0);
        }
    }
    ag_rollout_free(&ro);
    ag_trpo.free(learner);
    us_net_free(old);
    us_net_free(newp);
    us_net_free(vf);
    free(vbuf);
    free(vbuf2);
    free(lo);
    free(ln);
    replay_ctx_free(&live);
    replay_ctx_free(&rep);
}

TEST(agents_trpo_stays_in_trust_region) {
    us_sim *sim = us_test_agents_sim();
    if (!sim) SKIP("the agents fixture store could not be built (see above)");
    openblas_set_num_threads(1); /* the replay's forwards must give the learner's bits */
    /* the default line search: every update steps, some close to the limit (the test would
     * pass vacuously with tiny steps); one try: the full step overshoots the limit at times,
     * and those updates keep the old policy; the Fisher matrix from every 4th row: the
     * region still holds, since the line search measures the KL on every row */
    region_tally ten, one, sub;
    check_region(t_, sim, 10, 1, &ten);
    check_region(t_, sim, 1, 1, &one);
    check_region(t_, sim, 10, 4, &sub);
    printf("    10 tries: %d of 8 updates moved (largest KL %.5f of 0.05); 1 try: %d moved, %d "
           "kept the policy; every 4th row: %d moved (largest KL %.5f)\n", ten.moved,
           ten.max_kl, one.moved, one.held, sub.moved, sub.max_kl);
    CHECK(ten.moved == 8);
    CHECK(ten.max_kl > 0.5 * 0.05);
    CHECK(one.held > 0);
    CHECK(sub.moved >= 6);
    us_sim_close(sim);
}

/* ---- training runs ---- */

/* TRPO at sb3-contrib's defaults but with text-initialized item embeddings (as PPO's test), a
 * smaller damping and a wider trust region. The net's small init makes the Fisher matrix tiny
 * next to the default damping of 0.1, which then sets the step instead of the KL limit (at
 * first a step moved the policy by a KL of 0.0006 of the 0.01 allowed); with damping 0.001 the
 * region sets it. Measured held-out returns of CLI runs of 200k steps on this store: target-kl
 * 0.03 11.4, 0.05 11.6 (11.2 with seed 2), 0.1 9.1; the defaults reach 6.6 after 100k steps
 * where these reach 10.4. This run: 11.60 ±0.90, 1.56 x popular, 2.14 x random, 54% of the
 * oracle; the bounds leave about one interval of room. */
TEST(agents_trpo_learns) {
    US_TEST_SKIP_LEARNING_UNDER_SANITIZERS();
    us_sim *sim = us_test_agents_sim();
    if (!sim) SKIP("the agents fixture store could not be built (see above)");
    const char *hp[] = {"text-init", "1", "cg-damping", "0.001", "target-kl", "0.05", NULL};
    us_test_learned r;
    REQUIRE(us_test_agent_learns(sim, "trpo", hp, 200000, 300, "run", &r) == 0);
    CHECK(r.agent > 1.3 * r.popular);
    CHECK(r.agent > 1.8 * r.random);
    CHECK(r.agent > 0.4 * r.oracle);
    us_sim_close(sim);
}

/* A short run: 8 envs x 64 steps per rollout (512 rows), evaluated every 2048 steps, stopped
 * as if interrupted after stop_at steps (0: not). */
static us_status short_run(us_sim *sim, const char *dir, uint64_t steps, int threads, int resume,
                           uint64_t stop_at, us_err *e) {
    us_train_config tc = us_train_config_default();
    tc.agent = "trpo";
    tc.steps = steps;
    tc.out_dir = dir;
    tc.eval_every = 2048;
    tc.eval_episodes = 20;
    tc.threads = threads;
    tc.resume = resume;
    tc.stop_at = stop_at;
    us_agent_set("trpo", &tc.hp, "n-steps", 64, e);
    return us_train(sim, us_test_agents_store(), &tc, NULL, e);
}

TEST(agents_trpo_deterministic_and_resumes) {
    us_sim *sim = us_test_agents_sim();
    if (!sim) SKIP("the agents fixture store could not be built (see above)");
    char a[1024], b[1024], c[1024];
    snprintf(a, sizeof a, "%s", us_test_path("a"));
    snprintf(b, sizeof b, "%s", us_test_path("b"));
    snprintf(c, sizeof c, "%s", us_test_path("c"));
    us_err e;
    /* a: one run of 8192 steps; b: the same on 2 threads; c: stopped after 3000 (between
     * evaluations), then resumed */
    CHECK_OK(short_run(sim, a, 8192, 1, 0, 0, &e), e);
    CHECK_OK(short_run(sim, b, 8192, 2, 0, 0, &e), e);
    CHECK_OK(short_run(sim, c, 8192, 1, 0, 3000, &e), e);
    CHECK(!us_test_same_run_file(a, c, "checkpoint.bin"));
    CHECK_OK(short_run(sim, c, 8192, 1, 1, 0, &e), e);
    CHECK(us_test_same_run_file(a, b, "curve.csv"));
    CHECK(us_test_same_run_file(a, b, "checkpoint.bin"));
    CHECK(us_test_same_run_file(a, c, "curve.csv"));
    CHECK(us_test_same_run_file(a, c, "checkpoint.bin"));
    /* a batch size that does not divide the rollout is refused, naming it */
    us_train_config tc = us_train_config_default();
    tc.agent = "trpo";
    tc.out_dir = us_test_path("bad");
    us_agent_set("trpo", &tc.hp, "batch-size", 100, &e);
    CHECK_ERR(us_train(sim, us_test_agents_store(), &tc, NULL, &e), e, US_EINVAL, "batch-size");
    us_sim_close(sim);
}
