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

void ag_log_softmax_rows(float *logp, float *p, const float *logits, int B, int V) {
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * V;
        float *y = logp + (size_t)b * V;
        float *q = p ? p + (size_t)b * V : NULL;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++)
            if (x[i] > mx) mx = x[i];
        US_ASSERT(mx > -INFINITY); /* us_agent_mask never masks a whole row */
        /* s = Σ e_i, e_i = exp(x_i - max) (0 for masked items), kept in q when asked, so the
         * row costs one exp per item whatever the caller needs afterwards */
        double s = 0.0;
        for (int i = 0; i < V; i++) {
            const float e = x[i] > -INFINITY ? expf(x[i] - mx) : 0.0f;
            if (q) q[i] = e;
            s += e;
        }
        const double lse = mx + log(s);
        for (int i = 0; i < V; i++) y[i] = x[i] > -INFINITY ? (float)(x[i] - lse) : -INFINITY;
        if (q) {
            /* p_i = e_i / s */
            const double inv = 1.0 / s;
            for (int i = 0; i < V; i++) q[i] = (float)(q[i] * inv);
        }
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
    double h = 0.0;
    for (int i = 0; i < V; i++)
        if (logp[i] > -INFINITY) h -= (double)(p ? p[i] : expf(logp[i])) * logp[i];
    return h;
}

/* Σ g_i² in double, in four running sums (element i into sum i mod 4), added as
 * (s0 + s1) + (s2 + s3): the vector path below and the scalar loop give the same bits. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
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
#define AG_HAVE_AVX_SUMSQ 1
#endif

double ag_sumsq(const float *g, size_t n) {
#ifdef AG_HAVE_AVX_SUMSQ
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
            for (size_t i = 0; i < n; i++) g[i] *= scale;
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
