/* gradcheck.h — the one finite-difference gradient checker shared by every test of a backward
 * (core/nn kernels, BERT, SASRec, the agents).
 *
 *   // ctx holds the kernel's buffers and a random r with the output's shape.
 *   static double loss(void *p) {             // runs the forward, returns Σ out·r in double
 *       lin_ctx *c = p;
 *       nn_linear_forward(c->out, c->inp, c->w, c->b, c->N, c->C, c->OC);
 *       return us_gradcheck_dot(c->out, c->r, (size_t)c->N * c->OC);
 *   }
 *   ...
 *   loss(&c);                                 // forward at the unperturbed point
 *   // zero the grads, then backward with dout = r, which is ∂loss/∂out
 *   nn_linear_backward(c.dinp, c.dw, c.db, c.r, c.inp, c.w, c.N, c.C, c.OC);
 *   CHECK(us_gradcheck("linear dW", loss, &c, c.w, c.dw, (size_t)c.OC * c.C, NULL, NULL));
 *
 * How it checks one coordinate i of x (float32) against the analytic gradient a = grad[i]:
 *   h   = step·max(1, |x_i|);  x+ = fl(x_i + h), x- = fl(x_i - h)  (the float actually set)
 *   num = (L(x+) - L(x-)) / (x+ - x-)                               (central difference)
 *   err = |a - num| / max(|a|, |num|, floor)                        (relative error)
 * and passes when err <= tol. A coordinate over tol is excused as a KINK (a non-differentiable
 * point inside [x-, x+], e.g. ReLU at 0) when the one-sided differences
 *   fwd = (L(x+) - L(x)) / (x+ - x),  bwd = (L(x) - L(x-)) / (x - x-)
 * disagree, |fwd - bwd| > kink·max(|fwd|, |bwd|, floor), AND a lies between them (within
 * tol·max(|fwd|, |bwd|, floor)), as the derivative of either side of a kink does. A wrong
 * gradient at a smooth point is never excused, since there fwd ≈ bwd. The check fails when any
 * coordinate fails, when no coordinate could be checked, when more than a quarter were
 * excused as kinks (the step is too large for the function, or the function is broken), or
 * when L(x) is not reproducible after all perturbations (x not restored, state leaking).
 *
 * Tensors with more than max_coords elements are checked on a random subset of that size,
 * drawn from the seed (Knuth's selection sampling, so every coordinate is equally likely and
 * the subset is the same on every run).
 */
#ifndef USERSIM_TESTS_GRADCHECK_H
#define USERSIM_TESTS_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Runs the forward pass at the current parameters and returns the scalar loss (for kernels,
 * Σ out·r with a fixed random r, accumulated in double). Must be deterministic and must not
 * change anything that a later call reads, other than its own outputs. */
typedef double (*us_gradcheck_loss)(void *ctx);

typedef struct us_gradcheck_opts {
    double step;       /* h = step·max(1, |x|); default 1e-2 */
    double tol;        /* largest relative error that passes; default 1e-2 */
    double floor;      /* denominator floor of the relative error (gradient units); 1e-3 */
    double kink;       /* one-sided mismatch ratio that marks a kink; default 0.1 */
    size_t max_coords; /* coordinates checked per tensor at most (0: all); default 256 */
    uint64_t seed;     /* picks the subset; default 1 */
    int quiet;         /* 1: print nothing, even on failure (tests of the harness itself) */
} us_gradcheck_opts;

typedef struct us_gradcheck_result {
    size_t checked;        /* coordinates compared (passed or failed) */
    size_t failed;         /* of those, over tol */
    size_t kinks;          /* coordinates excused as kinks (not in checked) */
    double max_err;        /* the largest relative error among checked coordinates */
    size_t worst;          /* its index in x */
    double worst_analytic; /* grad[worst] */
    double worst_numeric;  /* the central difference at worst */
    int reproducible;      /* L(x) was bit-identical before and after */
} us_gradcheck_result;

/* The defaults above. */
us_gradcheck_opts us_gradcheck_defaults(void);

/* Checks grad (∂L/∂x, computed by the caller at the current x) against central differences of
 * loss(ctx) while perturbing x[i] in place, one coordinate at a time; every x[i] is restored
 * bit for bit. Returns 1 when the check passes, 0 when it fails; on failure (unless quiet)
 * prints the worst coordinates and a summary, prefixed with name, to stdout. opts NULL means
 * the defaults; res (may be NULL) receives the counts. Borrows x, grad, ctx, opts and res for
 * the call. */
int us_gradcheck(const char *name, us_gradcheck_loss loss, void *ctx, float *x,
                 const float *grad, size_t n, const us_gradcheck_opts *opts,
                 us_gradcheck_result *res);

/* x[i] uniform in [lo, hi), from rng (one us_rng_float draw each): seeded inputs and r.
 * Borrows x and rng (advanced) for the call. */
void us_gradcheck_fill(float *x, size_t n, float lo, float hi, us_rng *rng);

/* Σ_i out[i]·r[i] accumulated in double, in index order: the loss of a kernel check. Borrows
 * out and r for the call. */
double us_gradcheck_dot(const float *out, const float *r, size_t n);

#endif
