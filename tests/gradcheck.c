/* gradcheck.c — the shared finite-difference gradient checker (contract in tests/gradcheck.h):
 * central differences in double over a float32 parameter, relative error against a floor,
 * kinks excused by comparing one-sided differences, a seeded subset for large tensors.
 *
 * It deliberately does not allocate, compute analytic gradients (the caller runs its own
 * backward), or choose tolerances per kernel (callers pass them, with a comment when they
 * differ from the defaults). */
#include <math.h>
#include <stdio.h>

#include "tests/gradcheck.h"

/* Failing coordinates printed in detail before the summary line. */
#define GC_PRINT_MAX 5

us_gradcheck_opts us_gradcheck_defaults(void) {
    return (us_gradcheck_opts){
        .step = 1e-2,
        .tol = 1e-2,
        .floor = 1e-3,
        .kink = 0.1,
        .max_coords = 256,
        .seed = 1,
        .quiet = 0,
    };
}

void us_gradcheck_fill(float *x, size_t n, float lo, float hi, us_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * us_rng_float(rng);
}

double us_gradcheck_dot(const float *out, const float *r, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)out[i] * r[i];
    return s;
}

static double gc_max3(double a, double b, double c) {
    double m = a > b ? a : b;
    return m > c ? m : c;
}

int us_gradcheck(const char *name, us_gradcheck_loss loss, void *ctx, float *x,
                 const float *grad, size_t n, const us_gradcheck_opts *opts,
                 us_gradcheck_result *res) {
    us_gradcheck_opts o = opts ? *opts : us_gradcheck_defaults();
    us_gradcheck_result r = {.worst = 0, .reproducible = 1};
    US_ASSERT(loss && x && grad && o.step > 0.0 && o.tol > 0.0 && o.floor > 0.0);

    /* Selection sampling (Knuth, TAOCP vol. 2, 3.4.2, algorithm S): visit i = 0..n-1 and take
     * it with probability (still needed)/(still left), which yields exactly `want` distinct
     * indices, each subset equally likely, in increasing order, without storing them. */
    size_t want = (o.max_coords && o.max_coords < n) ? o.max_coords : n;
    us_rng pick;
    us_rng_seed(&pick, o.seed, 0x67726164u);
    double L0 = loss(ctx);
    int printed = 0;
    for (size_t i = 0, left = n, need = want; i < n && need > 0; i++, left--) {
        if (need < left && us_rng_uniform(&pick) * (double)left >= (double)need) continue;
        need--;

        float xi = x[i];
        double h = o.step * (fabs((double)xi) > 1.0 ? fabs((double)xi) : 1.0);
        float xp = (float)(xi + h), xm = (float)(xi - h);
        x[i] = xp;
        double Lp = loss(ctx);
        x[i] = xm;
        double Lm = loss(ctx);
        x[i] = xi;

        /* num = (L(x+) - L(x-)) / (x+ - x-), over the step actually taken in float. */
        double a = grad[i];
        double num = (Lp - Lm) / ((double)xp - (double)xm);
        double err = fabs(a - num) / gc_max3(fabs(a), fabs(num), o.floor);
        if (err > o.tol) {
            /* Over tol: a kink when the one-sided slopes disagree and a sits between them. */
            double fwd = (Lp - L0) / ((double)xp - (double)xi);
            double bwd = (L0 - Lm) / ((double)xi - (double)xm);
            double scale = gc_max3(fabs(fwd), fabs(bwd), o.floor);
            double lo = fwd < bwd ? fwd : bwd, hi = fwd < bwd ? bwd : fwd;
            if (fabs(fwd - bwd) > o.kink * scale && a >= lo - o.tol * scale &&
                a <= hi + o.tol * scale) {
                r.kinks++;
                continue;
            }
            r.failed++;
            if (!o.quiet && printed++ < GC_PRINT_MAX)
                printf("    gradcheck %s: [%zu] x=%.9g analytic %.9g numeric %.9g "
                       "rel err %.3g > %.3g\n",
                       name, i, (double)xi, a, num, err, o.tol);
        }
        r.checked++;
        if (err > r.max_err || r.checked == 1) {
            r.max_err = err;
            r.worst = i;
            r.worst_analytic = a;
            r.worst_numeric = num;
        }
    }
    r.reproducible = loss(ctx) == L0;

    size_t tried = r.checked + r.kinks;
    int ok = r.failed == 0 && r.checked > 0 && 4 * r.kinks <= tried && r.reproducible;
    if (!ok && !o.quiet)
        printf("    gradcheck %s: %zu of %zu coordinates failed, %zu kinks, max rel err %.3g "
               "at [%zu] (analytic %.9g numeric %.9g)%s\n",
               name, r.failed, r.checked, r.kinks, r.max_err, r.worst, r.worst_analytic,
               r.worst_numeric, r.reproducible ? "" : "; loss not reproducible");
    if (res) *res = r;
    return ok;
}
