/* internal.h — private to the simulator room's root (sim.c, collab.c, fidelity.c): the
 * collaborative models fitted at open and the small logistic regression the fitted ensemble and
 * the engagement calibration share. Not installed; tests include it to check the fits. */
#ifndef USERSIM_SIMULATOR_INTERNAL_H
#define USERSIM_SIMULATOR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* One labeled interaction of the training split: user, item, label 0/1. */
typedef struct us_lab {
    int32_t user, item;
    int8_t label;
} us_lab;

/* logit P(like | u, i) = mu + bu[u] + bi[i] (+ pu[u]·qi[i] for matrix factorization). */
typedef struct us_collab {
    int n_users, n_items, k;   /* k = 0: the bias model */
    double mu;
    float *bu, *bi;            /* (U), (V) */
    float *pu, *qi;            /* (U, k), (V, k); NULL for the bias model */
    double lambda;             /* the L2 strength chosen on the validation split */
    int epochs;                /* MF: the epochs kept (best validation log loss) */
    double valid_logloss;      /* of the kept parameters */
} us_collab;

/* The user+item bias logistic model fitted to train[0..n) by alternating one-dimensional
 * Newton steps (every user's bias, then every item's, then mu; rounds until no step exceeds
 * 1e-7, 100 at most) with an L2 penalty
 * lambda·b² / 2 on every bias, lambda chosen from {0.3, 1, 3, 10} by the log loss on
 * valid[0..nv) (nv may be 0: lambda 1). Deterministic, no draw. US_ENOMEM only. */
us_status us_collab_fit_bias(us_collab *m, int n_users, int n_items, const us_lab *train,
                             size_t n, const us_lab *valid, size_t nv);

/* Logistic matrix factorization (k factors, plus the biases) fitted to train by SGD: rows in
 * an order shuffled from seed each epoch, step lr 0.03, L2 0.02 on the factors and 0.01 on the
 * biases per step, factors initialized N(0, 0.1²), at most 30 epochs; the parameters of the
 * epoch with the best validation log loss are kept (stop after 4 epochs without a better one,
 * not before epoch 8: the factors need a few epochs to grow while the biases already fit).
 * With nv = 0 every epoch is run and the last kept. Deterministic for seed. US_ENOMEM only. */
us_status us_collab_fit_mf(us_collab *m, int n_users, int n_items, int k, const us_lab *train,
                           size_t n, const us_lab *valid, size_t nv, uint64_t seed);

/* The model's logit for (u, i). */
double us_collab_logit(const us_collab *m, int32_t u, int32_t i);

/* Frees the arrays (m itself is the caller's); a zeroed m is a no-op. */
void us_collab_free(us_collab *m);

struct us_sim;
/* The sim's fitted bias model (mf = 0) or matrix factorization (mf = 1), NULL when it fitted
 * none (not FITTED, or use_collab 0). Borrowed from sim. */
const us_collab *us_sim_collab_of(const struct us_sim *sim, int mf);

/* Solves the symmetric positive definite system a·x = b (a row-major (n, n), only its lower
 * triangle read) in place by Cholesky: x into b, a overwritten by its factor. Returns 0 (b
 * partly overwritten) when a is not positive definite. */
int us_spd_solve(double *a, double *b, int n);

/* L2-regularized logistic regression by Newton's method on n rows of d features
 * (x row-major (n, d), y 0/1, weights w or NULL for 1): logit = b[0] + Σ b[1+j]·x[j], the
 * penalty lambda·|b[1..d]|² / 2 (the intercept is free). d <= US_LOGREG_MAX. 50 iterations at
 * most, stopping when no coefficient moves by more than 1e-10. Deterministic. Returns the
 * final mean log loss. */
#define US_LOGREG_MAX 15
double us_logreg_fit(const double *x, const int8_t *y, const double *w, size_t n, int d,
                     double lambda, double *b);

#endif
