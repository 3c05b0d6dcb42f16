/* collab.c — the cheap collaborative parts of the fitted ensemble (internal.h): a user+item
 * bias logistic model and logistic matrix factorization, both fitted on the training split
 * when a us_sim opens, and the small Newton logistic regression that stacks the parts and
 * calibrates the engagement score. Everything is deterministic: the bias model draws nothing,
 * matrix factorization draws from one PCG32 stream of its seed, and both run on one thread.
 *
 * It deliberately keeps the models tiny (no side features, no implicit feedback): they are
 * baselines and ensemble parts, not a recommender. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/internal.h"

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Mean log loss of probability p against label y, clamped away from 0 and 1. */
static double logloss(double p, int y) {
    const double eps = 1e-7;
    p = p < eps ? eps : p > 1 - eps ? 1 - eps : p;
    return y ? -log(p) : -log(1 - p);
}

double us_collab_logit(const us_collab *m, int32_t u, int32_t i) {
    double z = m->mu + m->bu[u] + m->bi[i];
    if (m->k) {
        const float *p = m->pu + (size_t)u * (size_t)m->k, *q = m->qi + (size_t)i * (size_t)m->k;
        double dot = 0;
        for (int f = 0; f < m->k; f++) dot += (double)p[f] * q[f];
        z += dot;
    }
    return z;
}

static double valid_loss(const us_collab *m, const us_lab *v, size_t nv) {
    double s = 0;
    for (size_t r = 0; r < nv; r++)
        s += logloss(sigmoid(us_collab_logit(m, v[r].user, v[r].item)), v[r].label);
    return nv ? s / (double)nv : 0;
}

void us_collab_free(us_collab *m) {
    if (!m) return;
    free(m->bu);
    free(m->bi);
    free(m->pu);
    free(m->qi);
    memset(m, 0, sizeof *m);
}

/* The global like rate's logit, clamped so that an all-like split stays finite. */
static double base_logit(const us_lab *t, size_t n) {
    double pos = 0;
    for (size_t r = 0; r < n; r++) pos += t[r].label;
    double rate = (pos + 0.5) / ((double)n + 1.0);
    return log(rate / (1 - rate));
}

/* One bias fit at a fixed lambda into m (arrays allocated by the caller); g, h scratch of
 * max(U, V) doubles each. Rounds of alternating Newton steps until no step moves a parameter
 * by 1e-7 (100 rounds at most): the direction that moves every item bias one way and mu the
 * other is held only by the penalty, so at a small lambda it takes tens of rounds. */
static void bias_rounds(us_collab *m, const us_lab *t, size_t n, double lambda, double *g,
                        double *h) {
    m->mu = base_logit(t, n);
    memset(m->bu, 0, (size_t)m->n_users * sizeof *m->bu);
    memset(m->bi, 0, (size_t)m->n_items * sizeof *m->bi);
    for (int round = 0; round < 100; round++) {
        double moved = 0; /* the largest step of this round */
        for (int side = 0; side < 3; side++) {
            /* side 0: users' biases, 1: items', 2: mu (unpenalized); one Newton step each:
             * b += (Σ (y - p) - λ b) / (Σ p (1 - p) + λ) */
            const int groups = side == 0 ? m->n_users : side == 1 ? m->n_items : 1;
            memset(g, 0, (size_t)groups * sizeof *g);
            memset(h, 0, (size_t)groups * sizeof *h);
            for (size_t r = 0; r < n; r++) {
                const double p = sigmoid(m->mu + m->bu[t[r].user] + m->bi[t[r].item]);
                const int k = side == 0 ? t[r].user : side == 1 ? t[r].item : 0;
                g[k] += t[r].label - p;
                h[k] += p * (1 - p);
            }
            if (side == 2) {
                const double step = h[0] > 0 ? g[0] / h[0] : 0;
                m->mu += step;
                if (fabs(step) > moved) moved = fabs(step);
                continue;
            }
            float *b = side == 0 ? m->bu : m->bi;
            for (int k = 0; k < groups; k++) {
                const double step = (g[k] - lambda * b[k]) / (h[k] + lambda);
                b[k] += (float)step;
                if (fabs(step) > moved) moved = fabs(step);
            }
        }
        /* converged: what is left is below float precision of the logits that matter */
        if (moved < 1e-7) break;
    }
}

us_status us_collab_fit_bias(us_collab *m, int n_users, int n_items, const us_lab *train,
                             size_t n, const us_lab *valid, size_t nv) {
    memset(m, 0, sizeof *m);
    m->n_users = n_users;
    m->n_items = n_items;
    const size_t groups = (size_t)(n_users > n_items ? n_users : n_items);
    double *g = malloc(groups * sizeof *g), *h = malloc(groups * sizeof *h);
    float *best_u = malloc((size_t)n_users * sizeof *best_u);
    float *best_i = malloc((size_t)n_items * sizeof *best_i);
    m->bu = malloc((size_t)n_users * sizeof *m->bu);
    m->bi = malloc((size_t)n_items * sizeof *m->bi);
    us_status st = US_OK;
    if (!g || !h || !best_u || !best_i || !m->bu || !m->bi) {
        st = US_ENOMEM;
        goto done;
    }
    static const double grid[] = {0.3, 1.0, 3.0, 10.0};
    double best = INFINITY, best_mu = 0, best_lambda = 1.0;
    for (size_t k = 0; k < sizeof grid / sizeof *grid; k++) {
        const double lambda = nv ? grid[k] : 1.0;
        bias_rounds(m, train, n, lambda, g, h);
        const double loss = valid_loss(m, valid, nv);
        if (loss < best) {
            best = loss;
            best_mu = m->mu;
            best_lambda = lambda;
            memcpy(best_u, m->bu, (size_t)n_users * sizeof *best_u);
            memcpy(best_i, m->bi, (size_t)n_items * sizeof *best_i);
        }
        if (!nv) break;
    }
    m->mu = best_mu;
    m->lambda = best_lambda;
    m->valid_logloss = nv ? best : 0;
    memcpy(m->bu, best_u, (size_t)n_users * sizeof *best_u);
    memcpy(m->bi, best_i, (size_t)n_items * sizeof *best_i);
done:
    free(g);
    free(h);
    free(best_u);
    free(best_i);
    if (st != US_OK) us_collab_free(m);
    return st;
}

us_status us_collab_fit_mf(us_collab *m, int n_users, int n_items, int k, const us_lab *train,
                           size_t n, const us_lab *valid, size_t nv, uint64_t seed) {
    const double lr = 0.03, reg_f = 0.02, reg_b = 0.01;
    const int max_epochs = 30, patience = 4, warmup = 8;
    memset(m, 0, sizeof *m);
    m->n_users = n_users;
    m->n_items = n_items;
    m->k = k;
    const size_t nu = (size_t)n_users, ni = (size_t)n_items, kk = (size_t)k;
    m->bu = calloc(nu, sizeof *m->bu);
    m->bi = calloc(ni, sizeof *m->bi);
    m->pu = malloc(nu * kk * sizeof *m->pu);
    m->qi = malloc(ni * kk * sizeof *m->qi);
    /* the kept epoch: biases then factors, one block */
    const size_t keep_n = nu + ni + (nu + ni) * kk;
    float *keep = malloc(keep_n * sizeof *keep);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!m->bu || !m->bi || !m->pu || !m->qi || !keep || !order) {
        free(keep);
        free(order);
        us_collab_free(m);
        return US_ENOMEM;
    }
    us_rng rng = us_rng_derive(seed, 0x6d66); /* "mf" */
    for (size_t j = 0; j < nu * kk; j++) m->pu[j] = (float)(0.1 * us_rng_normal(&rng));
    for (size_t j = 0; j < ni * kk; j++) m->qi[j] = (float)(0.1 * us_rng_normal(&rng));
    m->mu = base_logit(train, n);
    for (size_t r = 0; r < n; r++) order[r] = (uint32_t)r;
    double best = INFINITY;
    int since = 0;
    for (int epoch = 1; epoch <= max_epochs; epoch++) {
        us_rng_shuffle(&rng, order, n, sizeof *order);
        for (size_t o = 0; o < n; o++) {
            const us_lab *x = &train[order[o]];
            float *p = m->pu + (size_t)x->user * kk, *q = m->qi + (size_t)x->item * kk;
            /* e = y - σ(z): the negative gradient of the log loss with respect to z */
            const double e = x->label - sigmoid(us_collab_logit(m, x->user, x->item));
            m->bu[x->user] += (float)(lr * (e - reg_b * m->bu[x->user]));
            m->bi[x->item] += (float)(lr * (e - reg_b * m->bi[x->item]));
            for (size_t f = 0; f < kk; f++) {
                const double pf = p[f], qf = q[f];
                p[f] = (float)(pf + lr * (e * qf - reg_f * pf));
                q[f] = (float)(qf + lr * (e * pf - reg_f * qf));
            }
        }
        const double loss = nv ? valid_loss(m, valid, nv) : 0;
        if (!nv || loss < best) {
            best = loss;
            since = 0;
            m->epochs = epoch;
            memcpy(keep, m->bu, nu * sizeof *keep);
            memcpy(keep + nu, m->bi, ni * sizeof *keep);
            memcpy(keep + nu + ni, m->pu, nu * kk * sizeof *keep);
            memcpy(keep + nu + ni + nu * kk, m->qi, ni * kk * sizeof *keep);
        } else if (++since >= patience && epoch >= warmup) {
            /* the factors start small and need a few epochs to grow while the biases already
             * fit: early stopping waits for them (warmup) */
            break;
        }
    }
    memcpy(m->bu, keep, nu * sizeof *keep);
    memcpy(m->bi, keep + nu, ni * sizeof *keep);
    memcpy(m->pu, keep + nu + ni, nu * kk * sizeof *keep);
    memcpy(m->qi, keep + nu + ni + nu * kk, ni * kk * sizeof *keep);
    m->valid_logloss = nv ? best : 0;
    free(keep);
    free(order);
    return US_OK;
}

int us_spd_solve(double *a, double *b, int n) {
    for (int j = 0; j < n; j++) {
        double s = a[j * n + j];
        for (int k = 0; k < j; k++) s -= a[j * n + k] * a[j * n + k];
        if (!(s > 0)) return 0;
        a[j * n + j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = a[i * n + j];
            for (int k = 0; k < j; k++) t -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = t / a[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) { /* L y = b */
        double t = b[i];
        for (int k = 0; k < i; k++) t -= a[i * n + k] * b[k];
        b[i] = t / a[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) { /* Lᵀ x = y */
        double t = b[i];
        for (int k = i + 1; k < n; k++) t -= a[k * n + i] * b[k];
        b[i] = t / a[i * n + i];
    }
    return 1;
}

double us_logreg_fit(const double *x, const int8_t *y, const double *w, size_t n, int d,
                     double lambda, double *b) {
    US_ASSERT(d >= 0 && d <= US_LOGREG_MAX);
    const int m = d + 1;
    double H[(US_LOGREG_MAX + 1) * (US_LOGREG_MAX + 1)], g[US_LOGREG_MAX + 1];
    for (int j = 0; j < m; j++) b[j] = 0;
    double loss = 0;
    for (int it = 0; it < 50; it++) {
        memset(H, 0, sizeof H);
        memset(g, 0, sizeof g);
        double wsum = 0;
        loss = 0;
        for (size_t r = 0; r < n; r++) {
            const double *xr = x + r * (size_t)d, wr = w ? w[r] : 1.0;
            double z = b[0];
            for (int j = 0; j < d; j++) z += b[1 + j] * xr[j];
            const double p = sigmoid(z), e = y[r] - p, v = wr * p * (1 - p);
            loss += wr * logloss(p, y[r]);
            wsum += wr;
            /* gradient of the log likelihood and the Hessian of its negative, row by row
             * over the design row (1, x) */
            for (int i = 0; i < m; i++) {
                const double xi = i ? xr[i - 1] : 1.0;
                g[i] += wr * e * xi;
                for (int j = 0; j <= i; j++) H[i * m + j] += v * xi * (j ? xr[j - 1] : 1.0);
            }
        }
        for (int i = 1; i < m; i++) {
            g[i] -= lambda * b[i];
            H[i * m + i] += lambda;
        }
        H[0] += 1e-9;
        loss = wsum > 0 ? loss / wsum : 0;
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++) H[i * m + j] = H[j * m + i];
        if (!us_spd_solve(H, g, m)) break;
        double move = 0;
        for (int j = 0; j < m; j++) {
            b[j] += g[j];
            if (fabs(g[j]) > move) move = fabs(g[j]);
        }
        if (move < 1e-10) break;
    }
    return loss;
}
