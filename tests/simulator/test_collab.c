/* The collaborative models and the Newton logistic regression (simulator/internal.h, collab.c),
 * checked on data drawn from known models: the optimality conditions recomputed here in double
 * (the gradient of the penalized log likelihood), an independent dense-Newton reference for the
 * bias model, determinism of matrix factorization, and what each model learns on validation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "simulator/internal.h"
#include "tests/test.h"

static double sigm(double z) { return 1.0 / (1.0 + exp(-z)); }

/* -log P(y | logit z), computed stably (no clamp: the test's logits stay small). */
static double nll(double z, int y) {
    const double s = y ? -z : z; /* -log σ(-s) = log(1 + e^s) */
    return s > 0 ? s + log1p(exp(-s)) : log1p(exp(s));
}

/* The library's log loss of p against y: clamped to [1e-7, 1 - 1e-7] (collab.c). */
static double clamped_logloss(double p, int y) {
    const double eps = 1e-7;
    p = p < eps ? eps : p > 1 - eps ? 1 - eps : p;
    return y ? -log(p) : -log(1 - p);
}

/* ---- us_logreg_fit ---- */

#define LR_D 3

/* Σ w·(-log lik) + lambda·|b[1..d]|² / 2 at b: the objective us_logreg_fit minimizes. */
static double lr_objective(const double *x, const int8_t *y, const double *w, size_t n,
                           double lambda, const double *b) {
    double s = 0;
    for (size_t r = 0; r < n; r++) {
        double z = b[0];
        for (int j = 0; j < LR_D; j++) z += b[1 + j] * x[r * LR_D + j];
        s += (w ? w[r] : 1.0) * nll(z, y[r]);
    }
    for (int j = 1; j <= LR_D; j++) s += 0.5 * lambda * b[j] * b[j];
    return s;
}

/* The gradient of the penalized log likelihood at b into g (d + 1), and the weighted mean log
 * loss (the value us_logreg_fit reports) into *mean_loss. */
static void lr_gradient(const double *x, const int8_t *y, const double *w, size_t n,
                        double lambda, const double *b, double *g, double *mean_loss) {
    double wsum = 0, loss = 0;
    for (int j = 0; j <= LR_D; j++) g[j] = 0;
    for (size_t r = 0; r < n; r++) {
        const double wr = w ? w[r] : 1.0;
        double z = b[0];
        for (int j = 0; j < LR_D; j++) z += b[1 + j] * x[r * LR_D + j];
        const double e = y[r] - sigm(z);
        g[0] += wr * e; /* the intercept: Σ w (y - p) */
        for (int j = 0; j < LR_D; j++) g[1 + j] += wr * e * x[r * LR_D + j];
        loss += wr * clamped_logloss(sigm(z), y[r]);
        wsum += wr;
    }
    for (int j = 1; j <= LR_D; j++) g[j] -= lambda * b[j]; /* the penalty spares b[0] */
    *mean_loss = loss / wsum;
}

/* n rows of LR_D standard normal features and labels drawn from σ(truth[0] + truth[1..]·x). */
static void lr_draw(us_rng *rng, size_t n, const double *truth, double *x, int8_t *y) {
    for (size_t r = 0; r < n; r++) {
        double z = truth[0];
        for (int j = 0; j < LR_D; j++) {
            x[r * LR_D + j] = us_rng_normal(rng);
            z += truth[1 + j] * x[r * LR_D + j];
        }
        y[r] = (int8_t)(us_rng_float(rng) < sigm(z));
    }
}

TEST(logreg_matches_the_optimum) {
    const size_t n = 20000;
    const double truth[LR_D + 1] = {-0.5, 1.0, -0.7, 0.3};
    double *x = malloc(n * LR_D * sizeof *x);
    int8_t *y = malloc(n);
    REQUIRE(x && y);
    us_rng rng = us_rng_derive(2024, 1);
    lr_draw(&rng, n, truth, x, y);

    /* Stationarity at two penalty strengths (measured: |gradient| / n about 2e-17 at both).
     * At lambda 200 the penalty term λ·b_j is about 1e2 against a tolerance of 2e-4 (1e-8·n),
     * so a fit that dropped or halved it would fail. */
    const double lambdas[2] = {1.0, 200.0};
    double b1[LR_D + 1];
    for (int li = 0; li < 2; li++) {
        const double lambda = lambdas[li];
        double b[LR_D + 1], g[LR_D + 1], mean_loss;
        const double ret = us_logreg_fit(x, y, NULL, n, LR_D, lambda, b);
        lr_gradient(x, y, NULL, n, lambda, b, g, &mean_loss);
        for (int j = 0; j <= LR_D; j++) CHECK(fabs(g[j]) / (double)n < 1e-8);
        /* the reported loss is the mean log loss at (within one vanishing Newton step of) b */
        CHECK_NEAR(ret, mean_loss, 1e-9);
        /* the objective is at its minimum: every ±1e-3 move of one coefficient raises it. A
         * coefficient off by more than 5e-4 would make one of the two moves lower it. */
        const double f0 = lr_objective(x, y, NULL, n, lambda, b);
        for (int j = 0; j <= LR_D; j++) {
            for (int s = -1; s <= 1; s += 2) {
                double bp[LR_D + 1];
                memcpy(bp, b, sizeof bp);
                bp[j] += s * 1e-3;
                CHECK(lr_objective(x, y, NULL, n, lambda, bp) > f0);
            }
        }
        if (li == 0) memcpy(b1, b, sizeof b1);
    }
    /* lambda 1 is negligible against 20000 rows: the fit recovers the generating model (the
     * standard errors are about 0.02) */
    for (int j = 0; j <= LR_D; j++) CHECK_NEAR(b1[j], truth[j], 0.1);

    /* Weights: weight 2 on the first 100 of 300 rows is the same fit as those rows twice. */
    const size_t m = 300, dup = 100;
    double *xd = malloc((m + dup) * LR_D * sizeof *xd), *w = malloc(m * sizeof *w);
    int8_t *yd = malloc(m + dup);
    REQUIRE(xd && w && yd);
    memcpy(xd, x, m * LR_D * sizeof *xd);
    memcpy(xd + m * LR_D, x, dup * LR_D * sizeof *xd);
    memcpy(yd, y, m);
    memcpy(yd + m, y, dup);
    for (size_t r = 0; r < m; r++) w[r] = r < dup ? 2.0 : 1.0;
    double bw[LR_D + 1], bd[LR_D + 1], bu[LR_D + 1];
    const double lw = us_logreg_fit(x, y, w, m, LR_D, 1.0, bw);
    const double ld = us_logreg_fit(xd, yd, NULL, m + dup, LR_D, 1.0, bd);
    us_logreg_fit(x, y, NULL, m, LR_D, 1.0, bu);
    double diff_unweighted = 0;
    for (int j = 0; j <= LR_D; j++) {
        CHECK_NEAR(bw[j], bd[j], 1e-9);
        diff_unweighted = fmax(diff_unweighted, fabs(bw[j] - bu[j]));
    }
    CHECK_NEAR(lw, ld, 1e-12);
    /* ...and the weights matter: ignoring them gives another fit */
    CHECK(diff_unweighted > 1e-3);
    free(x);
    free(y);
    free(xd);
    free(w);
    free(yd);
}

/* ---- the bias model ---- */

/* n labeled rows over (U, V) from the logistic model mu + bu[u] + bi[i] (+ pu[u]·qi[i] when
 * k > 0), pairs drawn uniformly. */
static void collab_draw(us_rng *rng, int U, int V, int k, double mu, const double *bu,
                        const double *bi, const double *pu, const double *qi, us_lab *out,
                        size_t n) {
    for (size_t r = 0; r < n; r++) {
        const int32_t u = (int32_t)us_rng_bounded(rng, (uint32_t)U);
        const int32_t i = (int32_t)us_rng_bounded(rng, (uint32_t)V);
        double z = mu + bu[u] + bi[i];
        for (int f = 0; f < k; f++) z += pu[u * k + f] * qi[i * k + f];
        out[r] = (us_lab){u, i, (int8_t)(us_rng_float(rng) < sigm(z))};
    }
}

/* The mean clamped log loss of model m on rows v (as collab.c measures validation). */
static double model_loss(const us_collab *m, const us_lab *v, size_t nv) {
    double s = 0;
    for (size_t r = 0; r < nv; r++)
        s += clamped_logloss(sigm(us_collab_logit(m, v[r].user, v[r].item)), v[r].label);
    return s / (double)nv;
}

/* The mean log loss on v of the constant model: the training like rate. */
static double constant_loss(const us_lab *t, size_t n, const us_lab *v, size_t nv) {
    double pos = 0, s = 0;
    for (size_t r = 0; r < n; r++) pos += t[r].label;
    for (size_t r = 0; r < nv; r++) s += clamped_logloss(pos / (double)n, v[r].label);
    return s / (double)nv;
}

/* The largest |gradient| of the penalized log likelihood of the bias model m at lambda, per
 * user (*gu), per item (*gi) and for mu (*gmu), recomputed in double from m's stored biases. */
static void bias_gradient(const us_collab *m, const us_lab *t, size_t n, double lambda,
                          double *gu, double *gi, double *gmu) {
    double *g = calloc((size_t)(m->n_users + m->n_items), sizeof *g);
    if (!g) abort();
    double g0 = 0;
    for (size_t r = 0; r < n; r++) {
        const double e = t[r].label - sigm(us_collab_logit(m, t[r].user, t[r].item));
        g[t[r].user] += e;
        g[m->n_users + t[r].item] += e;
        g0 += e;
    }
    *gu = *gi = 0;
    for (int u = 0; u < m->n_users; u++) *gu = fmax(*gu, fabs(g[u] - lambda * m->bu[u]));
    for (int i = 0; i < m->n_items; i++)
        *gi = fmax(*gi, fabs(g[m->n_users + i] - lambda * m->bi[i]));
    *gmu = fabs(g0);
    free(g);
}


/* The exact optimum of the bias model at lambda by full Newton over θ = (mu, bu, bi) with a
 * dense Hessian (a different algorithm from collab.c's alternating one-dimensional steps):
 * into th (1 + U + V). Returns 0 when it did not converge. */
static int bias_reference(const us_lab *t, size_t n, int U, int V, double lambda, double *th) {
    const int P = 1 + U + V;
    double *H = malloc((size_t)P * (size_t)P * sizeof *H), *g = malloc((size_t)P * sizeof *g);
    if (!H || !g) abort();
    memset(th, 0, (size_t)P * sizeof *th);
    int ok = 0;
    for (int it = 0; it < 100 && !ok; it++) {
        memset(H, 0, (size_t)P * (size_t)P * sizeof *H);
        memset(g, 0, (size_t)P * sizeof *g);
        for (size_t r = 0; r < n; r++) {
            const int ix[3] = {0, 1 + t[r].user, 1 + U + t[r].item};
            const double p = sigm(th[0] + th[ix[1]] + th[ix[2]]), v = p * (1 - p);
            for (int a = 0; a < 3; a++) {
                g[ix[a]] += t[r].label - p;
                for (int c = 0; c < 3; c++) H[ix[a] * P + ix[c]] += v;
            }
        }
        for (int j = 1; j < P; j++) {
            g[j] -= lambda * th[j];
            H[j * P + j] += lambda;
        }
        if (!us_spd_solve(H, g, P)) break;
        double move = 0;
        for (int j = 0; j < P; j++) th[j] += g[j], move = fmax(move, fabs(g[j]));
        ok = move < 1e-13;
    }
    free(H);
    free(g);
    return ok;
}

enum { BU = 50, BV = 30, BN = 1500, BNV = 600 };

TEST(collab_bias_fit_is_a_stationary_point) {
    us_rng rng = us_rng_derive(77, 0);
    double tbu[BU], tbi[BV];
    for (int u = 0; u < BU; u++) tbu[u] = 0.8 * us_rng_normal(&rng);
    for (int i = 0; i < BV; i++) tbi[i] = 0.8 * us_rng_normal(&rng);
    static us_lab train[BN], valid[BNV];
    collab_draw(&rng, BU, BV, 0, 0.4, tbu, tbi, NULL, NULL, train, BN);
    collab_draw(&rng, BU, BV, 0, 0.4, tbu, tbi, NULL, NULL, valid, BNV);

    us_collab m;
    REQUIRE(us_collab_fit_bias(&m, BU, BV, train, BN, valid, BNV) == US_OK);
    CHECK_EQ_INT(m.k, 0);
    CHECK(m.pu == NULL && m.qi == NULL);
    CHECK(m.lambda == 0.3 || m.lambda == 1.0 || m.lambda == 3.0 || m.lambda == 10.0);
    /* Stationary at the chosen lambda (3 on these data): Σ_rows(u) (y - p) - λ·bu[u] for every
     * user, the same for items, Σ (y - p) for mu. Measured after the 30 rounds: users 5.9e-7,
     * items 1.6e-5, mu 1.6e-11 (the float storage of the biases alone is worth about 1e-6). */
    double gu, gi, gmu;
    bias_gradient(&m, train, BN, m.lambda, &gu, &gi, &gmu);
    CHECK(gu < 1e-4);
    CHECK(gi < 1e-4);
    CHECK(gmu < 1e-4);
    /* the reported validation loss is the kept parameters' */
    CHECK_NEAR(m.valid_logloss, model_loss(&m, valid, BNV), 1e-12);
    CHECK(m.valid_logloss < constant_loss(train, BN, valid, BNV) - 0.02);

    /* Against the exact optimum, lambda by lambda: the kept biases are the optimum's at the
     * chosen lambda, and no other lambda of the grid validates better. */
    static const double grid[4] = {0.3, 1.0, 3.0, 10.0};
    double th[1 + BU + BV], best = INFINITY, chosen = NAN;
    for (int k = 0; k < 4; k++) {
        REQUIRE(bias_reference(train, BN, BU, BV, grid[k], th));
        us_collab ref = {.n_users = BU, .n_items = BV, .mu = th[0]};
        float rbu[BU], rbi[BV];
        for (int u = 0; u < BU; u++) rbu[u] = (float)th[1 + u];
        for (int i = 0; i < BV; i++) rbi[i] = (float)th[1 + BU + i];
        ref.bu = rbu;
        ref.bi = rbi;
        const double loss = model_loss(&ref, valid, BNV);
        best = fmin(best, loss);
        if (grid[k] != m.lambda) continue;
        chosen = loss;
        CHECK_NEAR(m.mu, th[0], 1e-5);
        for (int u = 0; u < BU; u++) CHECK_NEAR(m.bu[u], th[1 + u], 1e-5);
        for (int i = 0; i < BV; i++) CHECK_NEAR(m.bi[i], th[1 + BU + i], 1e-5);
    }
    CHECK_NEAR(chosen, best, 1e-9);
    us_collab_free(&m);

    /* without validation rows: lambda 1, no validation loss, stationary at lambda 1 */
    REQUIRE(us_collab_fit_bias(&m, BU, BV, train, BN, NULL, 0) == US_OK);
    CHECK(m.lambda == 1.0);
    CHECK(m.valid_logloss == 0.0);
    bias_gradient(&m, train, BN, 1.0, &gu, &gi, &gmu);
    CHECK(gu < 1e-4);
    CHECK(gmu < 1e-4);
    /* The fit runs until no step exceeds 1e-7: even along its slowest direction (every item
     * bias one way and mu the other, which only λ·Σ bi pulls back) it ends at the optimum.
     * Before it ran to convergence (30 fixed rounds) this gradient was 2.0e-3 here. */
    CHECK(gi < 1e-4);
    REQUIRE(bias_reference(train, BN, BU, BV, 1.0, th));
    double off = fabs(m.mu - th[0]);
    for (int u = 0; u < BU; u++) off = fmax(off, fabs(m.bu[u] - th[1 + u]));
    for (int i = 0; i < BV; i++) off = fmax(off, fabs(m.bi[i] - th[1 + BU + i]));
    CHECK(off < 1e-4);
    double logit_off = 0;
    for (int u = 0; u < BU; u++)
        for (int i = 0; i < BV; i++)
            logit_off = fmax(logit_off, fabs(us_collab_logit(&m, u, i) -
                                             (th[0] + th[1 + u] + th[1 + BU + i])));
    CHECK(logit_off < 1e-4);
    printf("    lambda 1 without validation: item gradient %.1e, parameters %.1e and logits %.1e "
           "from the optimum\n",
           gi, off, logit_off);
    /* ...which is not stationary for another lambda (the check has teeth) */
    bias_gradient(&m, train, BN, 3.0, &gu, &gi, &gmu);
    CHECK(gu > 1e-2);
    us_collab_free(&m);
}

TEST(spd_solve_known_system) {
    /* a = [[4, 2, 0], [2, 5, 1], [0, 1, 3]], x = (1, -2, 3): b = a·x = (0, -5, 7) */
    double a[9] = {4, 2, 0, 2, 5, 1, 0, 1, 3}, b[3] = {0, -5, 7};
    REQUIRE(us_spd_solve(a, b, 3));
    CHECK_NEAR(b[0], 1.0, 1e-12);
    CHECK_NEAR(b[1], -2.0, 1e-12);
    CHECK_NEAR(b[2], 3.0, 1e-12);
    double s[4] = {1, 2, 2, 1}, c[2] = {1, 1}; /* indefinite: eigenvalues 3 and -1 */
    CHECK(!us_spd_solve(s, c, 2));
}

/* ---- matrix factorization ---- */

/* 10000 training rows: with 4000 the fit beats the bias model but ends more than 0.1 above
 * the true model's log loss (too few rows per factor); and before MF waited eight epochs for
 * its factors to grow, 4000 rows stopped it at epoch 1, no better than the bias model. */
enum { MU_ = 80, MV_ = 60, MK = 4, MN = 10000, MNV = 1000 };

TEST(collab_mf_is_deterministic_and_learns) {
    us_rng rng = us_rng_derive(31, 0);
    double tbu[MU_], tbi[MV_], tpu[MU_ * MK], tqi[MV_ * MK];
    for (int u = 0; u < MU_; u++) tbu[u] = 0.3 * us_rng_normal(&rng);
    for (int i = 0; i < MV_; i++) tbi[i] = 0.3 * us_rng_normal(&rng);
    /* factor entries N(0, 1.2²): the interaction term p·q has a standard deviation of 2.9,
     * the biases 0.3 each: the bias model can explain little, the rank-4 model much */
    for (int j = 0; j < MU_ * MK; j++) tpu[j] = 1.2 * us_rng_normal(&rng);
    for (int j = 0; j < MV_ * MK; j++) tqi[j] = 1.2 * us_rng_normal(&rng);
    static us_lab train[MN], valid[MNV];
    collab_draw(&rng, MU_, MV_, MK, 0.2, tbu, tbi, tpu, tqi, train, MN);
    collab_draw(&rng, MU_, MV_, MK, 0.2, tbu, tbi, tpu, tqi, valid, MNV);
    double true_loss = 0; /* the generating model's validation loss: the floor */
    for (size_t r = 0; r < MNV; r++) {
        double z = 0.2 + tbu[valid[r].user] + tbi[valid[r].item];
        for (int f = 0; f < MK; f++) z += tpu[valid[r].user * MK + f] * tqi[valid[r].item * MK + f];
        true_loss += nll(z, valid[r].label) / MNV;
    }

    us_collab a, b, c, bias;
    REQUIRE(us_collab_fit_mf(&a, MU_, MV_, MK, train, MN, valid, MNV, 7) == US_OK);
    REQUIRE(us_collab_fit_mf(&b, MU_, MV_, MK, train, MN, valid, MNV, 7) == US_OK);
    REQUIRE(us_collab_fit_mf(&c, MU_, MV_, MK, train, MN, valid, MNV, 8) == US_OK);
    REQUIRE(us_collab_fit_bias(&bias, MU_, MV_, train, MN, valid, MNV) == US_OK);
    CHECK_EQ_INT(a.k, MK);
    CHECK(a.epochs >= 1 && a.epochs <= 30);
    CHECK(c.epochs >= 1 && c.epochs <= 30);
    /* the same seed: the same bits */
    CHECK(a.mu == b.mu && a.epochs == b.epochs && a.valid_logloss == b.valid_logloss);
    CHECK(memcmp(a.bu, b.bu, MU_ * sizeof *a.bu) == 0);
    CHECK(memcmp(a.bi, b.bi, MV_ * sizeof *a.bi) == 0);
    CHECK(memcmp(a.pu, b.pu, MU_ * MK * sizeof *a.pu) == 0);
    CHECK(memcmp(a.qi, b.qi, MV_ * MK * sizeof *a.qi) == 0);
    /* another seed: other factors (initialization and order both come from it) */
    CHECK(memcmp(a.pu, c.pu, MU_ * MK * sizeof *a.pu) != 0);
    CHECK(memcmp(a.qi, c.qi, MV_ * MK * sizeof *a.qi) != 0);
    CHECK(memcmp(a.bu, c.bu, MU_ * sizeof *a.bu) != 0);
    /* the kept epoch's validation loss, recomputed; it beats the bias model, which beats the
     * constant model: the low-rank structure is learned, not only the biases */
    CHECK_NEAR(a.valid_logloss, model_loss(&a, valid, MNV), 1e-12);
    CHECK_NEAR(bias.valid_logloss, model_loss(&bias, valid, MNV), 1e-12);
    const double constant = constant_loss(train, MN, valid, MNV);
    CHECK(a.valid_logloss < bias.valid_logloss - 0.1);
    CHECK(c.valid_logloss < bias.valid_logloss - 0.1);
    CHECK(bias.valid_logloss < constant);
    /* ...and comes near the generating model (measured: 0.45 against 0.40) */
    CHECK(a.valid_logloss > true_loss - 0.05);
    CHECK(a.valid_logloss < true_loss + 0.1);
    us_collab_free(&a);
    us_collab_free(&b);
    us_collab_free(&c);
    us_collab_free(&bias);

    /* without validation rows every epoch runs and the last is kept */
    REQUIRE(us_collab_fit_mf(&a, MU_, MV_, MK, train, MN, NULL, 0, 7) == US_OK);
    CHECK_EQ_INT(a.epochs, 30);
    CHECK(a.valid_logloss == 0.0);
    us_collab_free(&a);
}

/* ---- memory ---- */

TEST(collab_free_clears_and_tolerates_zeroed) {
    us_collab zero, m;
    memset(&zero, 0, sizeof zero);
    m = zero;
    us_collab_free(&m); /* a zeroed struct: nothing to free */
    CHECK(memcmp(&m, &zero, sizeof m) == 0);
    us_collab_free(NULL);
    const us_lab t[4] = {{0, 0, 1}, {0, 1, 0}, {1, 0, 1}, {1, 1, 1}};
    REQUIRE(us_collab_fit_mf(&m, 2, 2, 3, t, 4, NULL, 0, 1) == US_OK);
    CHECK(m.bu && m.bi && m.pu && m.qi);
    us_collab_free(&m); /* every array released (make san checks for leaks) and cleared */
    CHECK(memcmp(&m, &zero, sizeof m) == 0);
    us_collab_free(&m); /* a second free is a no-op */
    REQUIRE(us_collab_fit_bias(&m, 2, 2, t, 4, t, 4) == US_OK);
    CHECK(m.bu && m.bi);
    us_collab_free(&m);
    CHECK(memcmp(&m, &zero, sizeof m) == 0);
}
