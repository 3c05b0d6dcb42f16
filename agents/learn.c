/* learn.c — numerics every learner shares: masking a batch of score rows, a log-softmax that
 * tolerates masked (-inf) items, sampling and entropy from it, and Adam over a net's block with
 * global-norm clipping. */
#include <math.h>
#include <string.h>

#include "agents/internal.h"
#include "core/nn.h"

void ag_mask_rows(const us_sim *sim, const int32_t *obs, int B, int obs_size, float *scores,
                  int V) {
    for (int b = 0; b < B; b++)
        us_agent_mask(sim, obs + (size_t)b * obs_size, obs_size, 1, scores + (size_t)b * V);
}

/* s[i mod 4] += x_i over n floats (n a multiple of 4 except on a row's last chunk), in
 * double: element i goes to sum i mod 4, in index order, with AVX where the CPU has it and the
 * same bits without. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AG_HAVE_AVX 1
__attribute__((target("avx"))) static void sum4_avx(double s[4], const float *x, size_t n) {
    __m256d acc = _mm256_loadu_pd(s);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
    _mm256_storeu_pd(s, acc);
    for (; i < n; i++) s[i % 4] += x[i];
}
#endif

/* Row loops with AVX where the CPU has it (elementwise, so the same bits either way; the
 * maximum is exact in any order). Each returns how many leading elements it did. */
#ifdef AG_HAVE_AVX
__attribute__((target("avx"))) static int max_avx(const float *x, int n, float *mx) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float l[8];
    _mm256_storeu_ps(l, m);
    for (int k = 0; k < 8; k++) *mx = l[k] > *mx ? l[k] : *mx;
    return i;
}
/* y_i = x_i·a + b */
__attribute__((target("avx"))) static size_t affine_avx(float *y, const float *x, size_t n,
                                                        float a, float b) {
    const __m256 av = _mm256_set1_ps(a), bv = _mm256_set1_ps(b);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), av), bv));
    return i;
}
/* y_i += a·x_i */
__attribute__((target("avx"))) static size_t axpy_avx(float *y, float a, const float *x,
                                                      size_t n) {
    const __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i),
                                              _mm256_mul_ps(av, _mm256_loadu_ps(x + i))));
    return i;
}
/* s[i mod 4] += p_i·logp_i over the items with p_i > 0, in double */
__attribute__((target("avx"))) static int plogp_avx(double s[4], const float *p, const float *lp,
                                                    int n) {
    __m256d acc = _mm256_loadu_pd(s);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d pd = _mm256_cvtps_pd(_mm_loadu_ps(p + i));
        const __m256d pl = _mm256_mul_pd(pd, _mm256_cvtps_pd(_mm_loadu_ps(lp + i)));
        const __m256d keep = _mm256_cmp_pd(pd, _mm256_setzero_pd(), _CMP_GT_OQ);
        acc = _mm256_add_pd(acc, _mm256_and_pd(pl, keep));
    }
    _mm256_storeu_pd(s, acc);
    return i;
}
#endif

float ag_row_max(const float *x, int n) {
    float mx = -INFINITY;
    int i = 0;
#ifdef AG_HAVE_AVX
    if (__builtin_cpu_supports("avx")) i = max_avx(x, n, &mx);
#endif
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    return mx;
}

void ag_affine(float *y, const float *x, size_t n, float a, float b) {
    size_t i = 0;
#ifdef AG_HAVE_AVX
    if (n >= 8 && __builtin_cpu_supports("avx")) i = affine_avx(y, x, n, a, b);
#endif
    for (; i < n; i++) y[i] = x[i] * a + b;
}

void ag_axpy(float *y, float a, const float *x, size_t n) {
    size_t i = 0;
#ifdef AG_HAVE_AVX
    if (n >= 8 && __builtin_cpu_supports("avx")) i = axpy_avx(y, a, x, n);
#endif
    for (; i < n; i++) y[i] += a * x[i];
}

static void sum4(double s[4], const float *x, size_t n) {
#ifdef AG_HAVE_AVX
    if (__builtin_cpu_supports("avx")) {
        sum4_avx(s, x, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) s[i % 4] += x[i];
}

void ag_log_softmax_rows(float *logp, float *p, const float *logits, int B, int V) {
    enum { CHUNK = 256 }; /* a multiple of 4, so the running sums keep their elements */
    float e[CHUNK];
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * V;
        float *y = logp + (size_t)b * V;
        float *q = p ? p + (size_t)b * V : NULL;
        const float mx = ag_row_max(x, V);
        US_ASSERT(mx > -INFINITY); /* us_agent_mask never masks a whole row */
        /* d_i = x_i - max (-inf for masked items), kept in y (which may be x) */
        ag_affine(y, x, (size_t)V, 1.0f, -mx);
        /* s = Σ e^d_i (masked items: e^-inf = 0), one exp per item, the exponentials kept in q
         * when asked, so sampling, entropy and gradient need none of their own */
        double s4[4] = {0.0, 0.0, 0.0, 0.0};
        for (int i = 0; i < V; i += CHUNK) {
            const int len = V - i < CHUNK ? V - i : CHUNK;
            float *ei = q ? q + i : e;
            nn_exp(ei, y + i, (size_t)len);
            sum4(s4, ei, (size_t)len);
        }
        const double s = (s4[0] + s4[1]) + (s4[2] + s4[3]);
        /* log p_i = d_i - log s;  p_i = e^d_i / s */
        const float ls = (float)log(s), inv = (float)(1.0 / s);
        ag_affine(y, y, (size_t)V, 1.0f, -ls);
        if (q) ag_affine(q, q, (size_t)V, inv, 0.0f);
    }
}

int32_t ag_sample(const float *p, int V, us_rng *rng) {
    const double u = us_rng_uniform(rng);
    double c = 0.0;
    int32_t last = 0;
    for (int i = 0; i < V; i++) {
        if (p[i] == 0.0f) continue;
        c += p[i];
        last = i;
        if (u < c) return i;
    }
    return last; /* rounding left c just under 1 */
}

double ag_entropy(const float *logp, const float *p, int V) {
    if (p) {
        /* -Σ p_i·log p_i over p_i > 0 in four running sums (item i into sum i mod 4) */
        double s[4] = {0.0, 0.0, 0.0, 0.0};
        int i = 0;
#ifdef AG_HAVE_AVX
        if (__builtin_cpu_supports("avx")) i = plogp_avx(s, p, logp, V);
#endif
        for (; i < V; i++)
            if (p[i] > 0.0f) s[i % 4] += (double)p[i] * logp[i];
        return -((s[0] + s[1]) + (s[2] + s[3]));
    }
    double h = 0.0;
    for (int i = 0; i < V; i++)
        if (logp[i] > -INFINITY) h -= (double)(p ? p[i] : expf(logp[i])) * logp[i];
    return h;
}

/* Σ g_i² in double, in four running sums (element i into sum i mod 4), added as
 * (s0 + s1) + (s2 + s3): the vector path below and the scalar loop give the same bits. */
#ifdef AG_HAVE_AVX
__attribute__((target("avx"))) static double sumsq_avx(const float *g, size_t n) {
    __m256d acc = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
        acc = _mm256_add_pd(acc, _mm256_mul_pd(x, x));
    }
    double s[4];
    _mm256_storeu_pd(s, acc);
    for (; i < n; i++) s[i % 4] += (double)g[i] * g[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}
#endif

double ag_sumsq(const float *g, size_t n) {
#ifdef AG_HAVE_AVX
    if (__builtin_cpu_supports("avx")) return sumsq_avx(g, n);
#endif
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (size_t i = 0; i < n; i++) s[i % 4] += (double)g[i] * g[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

double ag_clip_nets(us_net *const *nets, int n_nets, double max_grad_norm) {
    double ss = 0.0;
    for (int k = 0; k < n_nets; k++) ss += ag_sumsq(us_net_grads(nets[k]), us_net_nparams(nets[k]));
    const double norm = sqrt(ss);
    /* as torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) when norm > max */
    if (max_grad_norm > 0.0 && norm > max_grad_norm) {
        const float scale = (float)(max_grad_norm / (norm + 1e-6));
        for (int k = 0; k < n_nets; k++) {
            float *g = us_net_grads(nets[k]);
            const size_t n = us_net_nparams(nets[k]);
            ag_affine(g, g, n, scale, 0.0f);
        }
    }
    return norm;
}

double ag_adam_nets(us_net *const *nets, int n_nets, float lr, float beta1, float beta2,
                    float eps, double max_grad_norm, int t) {
    ag_prof *prof = ag_net_prof(nets[0]);
    const double t0 = prof ? us_now() : 0.0;
    const double norm = ag_clip_nets(nets, n_nets, max_grad_norm);
    for (int k = 0; k < n_nets; k++)
        nn_adamw_update(us_net_params(nets[k]), us_net_grads(nets[k]), us_net_adam_m(nets[k]),
                        us_net_adam_v(nets[k]), us_net_nparams(nets[k]), lr, beta1, beta2, eps,
                        0.0f, t, NN_DECAY_DECOUPLED);
    if (prof) prof->optimizer += us_now() - t0;
    return norm;
}

double ag_adam(us_net *net, float lr, float beta1, float beta2, float eps, double max_grad_norm,
               int t) {
    return ag_adam_nets(&net, 1, lr, beta1, beta2, eps, max_grad_norm, t);
}

double ag_hp(const ag_ctx *ctx, const char *name) {
    for (int k = 0; k < ctx->algo->n_hp; k++)
        if (!strcmp(ctx->algo->hp[k].name, name)) return ctx->hp->v[k];
    US_ASSERT(!"unknown hyperparameter");
    return 0.0;
}

void ag_policy_grad_row(float *dlogits, const float *logp, const float *p, int V, int32_t a,
                        double coef_logp, double coef_entropy) {
    if (p && coef_entropy == 0.0) {
        /* ∂/∂z_j = coef_logp·([j = a] - p_j); masked items have p_j = 0 */
        const float c = (float)coef_logp, pa = p[a];
        ag_affine(dlogits, p, (size_t)V, -c, 0.0f);
        dlogits[a] = (float)(coef_logp * (1.0 - pa));
        return;
    }
    const double H = coef_entropy != 0.0 ? ag_entropy(logp, p, V) : 0.0;
    for (int j = 0; j < V; j++) {
        if (logp[j] == -INFINITY) {
            dlogits[j] = 0.0f;
            continue;
        }
        /* p may be dlogits itself: p_j is read before dlogits[j] is written */
        const double pj = p ? p[j] : expf(logp[j]);
        dlogits[j] = (float)(coef_logp * ((j == a) - pj) - coef_entropy * pj * (logp[j] + H));
    }
}

double ag_explained_variance(const float *values, const float *ret, size_t n) {
    if (n < 2) return NAN;
    double mr = 0.0, md = 0.0;
    for (size_t k = 0; k < n; k++) {
        mr += ret[k];
        md += (double)ret[k] - values[k];
    }
    mr /= (double)n;
    md /= (double)n;
    double vr = 0.0, vd = 0.0;
    for (size_t k = 0; k < n; k++) {
        const double d = (double)ret[k] - values[k] - md;
        vr += (ret[k] - mr) * (ret[k] - mr);
        vd += d * d;
    }
    return vr > 0.0 ? 1.0 - vd / vr : NAN;
}
