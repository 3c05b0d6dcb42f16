/* nn.c — the float32 neural-network kernels declared in core/nn.h: forward/backward pairs for
 * linear, embedding, layer norm, multi-head self-attention, ReLU, GELU (exact and tanh),
 * dropout, softmax, log-softmax and sigmoid cross-entropy; Adam/AdamW, gradient clipping,
 * initializers and the parameter-block layout. Matrix products go through OpenBLAS
 * cblas_sgemm; the plain-loop references beside them are what the tests compare against.
 *
 * It deliberately does not allocate, thread, keep global state, set OpenBLAS's thread count,
 * or use -ffast-math style reassociation: every loop has a fixed order, so the same inputs
 * give the same bits. It does not validate data (NaNs pass through); bad sizes and indices
 * are programmer errors and stop at US_ASSERT. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/nn.h"

/* 1/√2, 1/√(2π) and √(2/π), for the two GELUs. */
#define NN_INV_SQRT2 0.70710678118654752440
#define NN_INV_SQRT_2PI 0.39894228040143267794
#define NN_SQRT_2_OVER_PI 0.79788456080286535588
#define NN_GELU_TANH_K 0.044715

/* ------------------------------------------------------------------------------------------
 * Linear
 * ---------------------------------------------------------------------------------------- */

/* The few-rows product (serving one user: sgemm's packing costs more than the product). Each
 * output is a dot product in 8 partial sums (lane j takes c = j mod 8), reduced as
 * ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)), plus the sum of the C mod 8 leftover
 * products, in order; out[n,k] = dot, or out[n,k] + dot when add. Four outputs go together so
 * that each input load serves four weight rows. */
static void small_rows_linear(float *out, const float *inp, const float *weight, int add, int N,
                              int C, int OC) {
    const int C8 = C & ~7;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * OC;
        int k = 0;
        for (; k + 4 <= OC; k += 4) {
            const float *w0 = weight + (size_t)k * C, *w1 = w0 + C, *w2 = w1 + C, *w3 = w2 + C;
            float a0[8] = {0}, a1[8] = {0}, a2[8] = {0}, a3[8] = {0};
            for (int c = 0; c < C8; c += 8)
                for (int j = 0; j < 8; j++) {
                    float xv = x[c + j];
                    a0[j] += xv * w0[c + j];
                    a1[j] += xv * w1[c + j];
                    a2[j] += xv * w2[c + j];
                    a3[j] += xv * w3[c + j];
                }
            float *acc[4] = {a0, a1, a2, a3};
            const float *w[4] = {w0, w1, w2, w3};
            for (int r = 0; r < 4; r++) {
                const float *a = acc[r];
                float tail = 0.0f;
                for (int c = C8; c < C; c++) tail += x[c] * w[r][c];
                float dot = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail;
                o[k + r] = add ? o[k + r] + dot : dot;
            }
        }
        for (; k < OC; k++) {
            const float *w0 = weight + (size_t)k * C;
            float a[8] = {0}, tail = 0.0f;
            for (int c = 0; c < C8; c += 8)
                for (int j = 0; j < 8; j++) a[j] += x[c + j] * w0[c + j];
            for (int c = C8; c < C; c++) tail += x[c] * w0[c];
            float dot = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail;
            o[k] = add ? o[k] + dot : dot;
        }
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NN_HAVE_AVX2_PATH 1

/* small_rows_linear with AVX2 vectors where the CPU has them: the same multiplications and
 * additions in the same order, so the same bits (AVX2 without FMA: nothing is fused). The
 * eight lanes of an accumulator are the eight partial sums; the reduction of four outputs is
 * low half + high half (s_j + s_{j+4}), then two rounds of pairwise horizontal adds, which is
 * the portable expression's order. */
__attribute__((target("avx2"))) static void small_rows_linear_avx2(float *out, const float *inp,
                                                                   const float *weight, int add,
                                                                   int N, int C, int OC) {
    const int C8 = C & ~7;
    const int OC4 = OC & ~3;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * OC;
        for (int k = 0; k < OC4; k += 4) {
            const float *w0 = weight + (size_t)k * C, *w1 = w0 + C, *w2 = w1 + C, *w3 = w2 + C;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int c = 0; c < C8; c += 8) {
                __m256 xv = _mm256_loadu_ps(x + c);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(xv, _mm256_loadu_ps(w0 + c)));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(xv, _mm256_loadu_ps(w1 + c)));
                a2 = _mm256_add_ps(a2, _mm256_mul_ps(xv, _mm256_loadu_ps(w2 + c)));
                a3 = _mm256_add_ps(a3, _mm256_mul_ps(xv, _mm256_loadu_ps(w3 + c)));
            }
            __m128 u0 = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
            __m128 u1 = _mm_add_ps(_mm256_castps256_ps128(a1), _mm256_extractf128_ps(a1, 1));
            __m128 u2 = _mm_add_ps(_mm256_castps256_ps128(a2), _mm256_extractf128_ps(a2, 1));
            __m128 u3 = _mm_add_ps(_mm256_castps256_ps128(a3), _mm256_extractf128_ps(a3, 1));
            __m128 dot = _mm_hadd_ps(_mm_hadd_ps(u0, u1), _mm_hadd_ps(u2, u3));
            float tail[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int c = C8; c < C; c++) {
                tail[0] += x[c] * w0[c];
                tail[1] += x[c] * w1[c];
                tail[2] += x[c] * w2[c];
                tail[3] += x[c] * w3[c];
            }
            dot = _mm_add_ps(dot, _mm_loadu_ps(tail));
            if (add) dot = _mm_add_ps(_mm_loadu_ps(o + k), dot);
            _mm_storeu_ps(o + k, dot);
        }
        if (OC4 < OC)
            small_rows_linear(o + OC4, x, weight + (size_t)OC4 * C, add, 1, C, OC - OC4);
    }
}
#endif

void nn_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int N, int C, int OC) {
    US_ASSERT(out && inp && weight && N >= 0 && C >= 0 && OC >= 0);
    if (N == 0 || OC == 0) return;
    float beta = 0.0f;
    if (bias) {
        /* out[n,:] = bias, then sgemm adds the product on top (beta = 1). */
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    if (C == 0) {
        if (!bias) memset(out, 0, (size_t)N * OC * sizeof(float));
        return;
    }
    if (N <= NN_SMALL_ROWS) {
#ifdef NN_HAVE_AVX2_PATH
        if (__builtin_cpu_supports("avx2")) {
            small_rows_linear_avx2(out, inp, weight, bias != NULL, N, C, OC);
            return;
        }
#endif
        small_rows_linear(out, inp, weight, bias != NULL, N, C, OC);
        return;
    }
    /* out (N,OC) = inp (N,C) · weightᵀ (C,OC) + beta·out. weight is row-major (OC,C), so it is
     * read transposed with leading dimension C. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, beta,
                out, OC);
}

#ifdef NN_HAVE_AVX2_PATH
/* y[o] += x[o] eight at a time (elementwise: the scalar loop's bits). Returns how many leading
 * elements it did. */
__attribute__((target("avx"))) static int add_row_avx(float *y, const float *x, int n) {
    int o = 0;
    for (; o + 8 <= n; o += 8)
        _mm256_storeu_ps(y + o, _mm256_add_ps(_mm256_loadu_ps(y + o), _mm256_loadu_ps(x + o)));
    return o;
}
#endif

void nn_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int N, int C, int OC) {
    US_ASSERT(dout && N >= 0 && C >= 0 && OC >= 0);
    if (N == 0 || OC == 0) return;
    if (dinp && C > 0) {
        /* Forward: out = inp·Wᵀ.  dinp (N,C) += dout (N,OC) · W (OC,C). */
        US_ASSERT(weight);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight,
                    C, 1.0f, dinp, C);
    }
    if (dweight && C > 0) {
        /* Forward: out[n,o] = Σ_c inp[n,c]·W[o,c].  dW (OC,C) += doutᵀ (OC,N) · inp (N,C). */
        US_ASSERT(inp);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C,
                    1.0f, dweight, C);
    }
    if (dbias) {
        /* Forward: out[n,o] += bias[o].  dbias[o] += Σ_n dout[n,o], rows in order. */
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OC;
            int o = 0;
#ifdef NN_HAVE_AVX2_PATH
            if (OC >= 8 && __builtin_cpu_supports("avx")) o = add_row_avx(dbias, d, OC);
#endif
            for (; o < OC; o++) dbias[o] += d[o];
        }
    }
}

void nn_linear_forward_naive(float *out, const float *inp, const float *weight,
                             const float *bias, int N, int C, int OC) {
    US_ASSERT(out && inp && weight && N >= 0 && C >= 0 && OC >= 0);
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        for (int o = 0; o < OC; o++) {
            /* out[n,o] = Σ_c x[c]·W[o,c] + b[o] */
            const float *w = weight + (size_t)o * C;
            double s = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) s += (double)x[c] * w[c];
            out[(size_t)n * OC + o] = (float)s;
        }
    }
}

void nn_linear_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, int N, int C, int OC) {
    US_ASSERT(dout && N >= 0 && C >= 0 && OC >= 0);
    if (dinp) {
        /* dinp[n,c] += Σ_o dout[n,o]·W[o,c] */
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                double s = 0.0;
                for (int o = 0; o < OC; o++)
                    s += (double)dout[(size_t)n * OC + o] * weight[(size_t)o * C + c];
                dinp[(size_t)n * C + c] += (float)s;
            }
    }
    if (dweight) {
        /* dW[o,c] += Σ_n dout[n,o]·inp[n,c] */
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++) {
                double s = 0.0;
                for (int n = 0; n < N; n++)
                    s += (double)dout[(size_t)n * OC + o] * inp[(size_t)n * C + c];
                dweight[(size_t)o * C + c] += (float)s;
            }
    }
    if (dbias) {
        /* dbias[o] += Σ_n dout[n,o] */
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
            dbias[o] += (float)s;
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Embedding
 * ---------------------------------------------------------------------------------------- */

/* 1 when index i selects no row (-1 or the padding index); asserts that others are in range. */
static int nn_emb_skip(int32_t i, int V, int padding_idx) {
    if (i == -1 || (padding_idx >= 0 && i == padding_idx)) return 1;
    US_ASSERT(i >= 0 && i < V);
    return 0;
}

void nn_embedding_forward(float *out, const int32_t *idx, const float *table, int N, int V,
                          int C, int padding_idx) {
    US_ASSERT(out && idx && table && N >= 0 && V >= 0 && C >= 0);
    US_ASSERT(padding_idx >= -1 && padding_idx < V);
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * C;
        /* out[n,:] = table[idx[n],:], or 0 for a skipped index */
        if (nn_emb_skip(idx[n], V, padding_idx))
            memset(o, 0, (size_t)C * sizeof(float));
        else
            memcpy(o, table + (size_t)idx[n] * C, (size_t)C * sizeof(float));
    }
}

void nn_embedding_backward(float *dtable, const float *dout, const int32_t *idx, int N, int V,
                           int C, int padding_idx) {
    US_ASSERT(dtable && dout && idx && N >= 0 && V >= 0 && C >= 0);
    US_ASSERT(padding_idx >= -1 && padding_idx < V);
    for (int n = 0; n < N; n++) {
        /* Forward: out[n,:] = table[idx[n],:].  dtable[idx[n],:] += dout[n,:], in row order, so
         * repeated indices sum the same way every time. */
        if (nn_emb_skip(idx[n], V, padding_idx)) continue;
        float *d = dtable + (size_t)idx[n] * C;
        const float *g = dout + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] += g[c];
    }
}

/* ------------------------------------------------------------------------------------------
 * Layer norm
 * ---------------------------------------------------------------------------------------- */

void nn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, int N, int C, float eps) {
    US_ASSERT(out && mean && rstd && inp && weight && bias && N >= 0 && C > 0);
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        /* μ = Σ_c x[c] / C */
        double s = 0.0;
        for (int c = 0; c < C; c++) s += x[c];
        float mu = (float)(s / C);
        /* σ² = Σ_c (x[c] - μ)² / C  (two passes: no cancellation from E[x²] - μ²) */
        double ss = 0.0;
        for (int c = 0; c < C; c++) {
            double d = (double)x[c] - mu;
            ss += d * d;
        }
        /* ρ = 1/sqrt(σ² + eps) */
        float rs = (float)(1.0 / sqrt(ss / C + (double)eps));
        mean[n] = mu;
        rstd[n] = rs;
        /* y[c] = (x[c] - μ)·ρ·w[c] + b[c], with the stored float μ and ρ (as backward sees
         * them). Safe in place: x[c] is read before y[c] is written. */
        for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * rs * weight[c] + bias[c];
    }
}

void nn_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, int N, int C) {
    US_ASSERT(dout && inp && weight && mean && rstd && N >= 0 && C > 0);
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float mu = mean[n], rs = rstd[n];
        /* Forward: y = x̂·w + b, x̂ = (x - μ)·ρ.  With g = dy·w (the gradient at x̂):
         *   dx = ρ·(g - mean(g) - x̂·mean(g·x̂))
         * The two means are the terms that flow through μ and through ρ. */
        double sg = 0.0, sgx = 0.0;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - mu) * rs;
            float g = dy[c] * weight[c];
            sg += g;
            sgx += (double)g * xhat;
        }
        float mg = (float)(sg / C), mgx = (float)(sgx / C);
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - mu) * rs;
            /* Forward: y[c] = x̂[c]·w[c] + b[c].  dw[c] += dy·x̂;  db[c] += dy. */
            if (dweight) dweight[c] += dy[c] * xhat;
            if (dbias) dbias[c] += dy[c];
            if (dinp) dinp[(size_t)n * C + c] += rs * (dy[c] * weight[c] - mg - xhat * mgx);
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Attention
 * ---------------------------------------------------------------------------------------- */

/* May query t attend to key t2 of sequence b? */
static int nn_att_allowed(const uint8_t *mask, int b, int T, int t, int t2, int causal) {
    if (causal && t2 > t) return 0;
    return !mask || mask[(size_t)b * T + t2] != 0;
}

/* In place over one row of scores s[0..T): the masked softmax of the forward contract.
 * att[t2] = exp(s[t2] - m) / Σ exp(s[j] - m) over allowed t2 (m their max), 0 elsewhere; a
 * row with no allowed key becomes all zeros. */
static void nn_att_softmax_row(float *s, const uint8_t *mask, int b, int T, int t, int causal) {
    float m = -INFINITY;
    int any = 0;
    for (int t2 = 0; t2 < T; t2++)
        if (nn_att_allowed(mask, b, T, t, t2, causal)) {
            if (!any || s[t2] > m) m = s[t2];
            any = 1;
        }
    if (!any) {
        memset(s, 0, (size_t)T * sizeof(float));
        return;
    }
    double sum = 0.0;
    for (int t2 = 0; t2 < T; t2++) {
        if (nn_att_allowed(mask, b, T, t, t2, causal)) {
            s[t2] = expf(s[t2] - m);
            sum += s[t2];
        } else {
            s[t2] = 0.0f;
        }
    }
    /* sum >= 1: the max element contributes exp(0) = 1. */
    float inv = (float)(1.0 / sum);
    for (int t2 = 0; t2 < T; t2++) s[t2] *= inv;
}

void nn_attention_forward(float *out, float *att, const float *qkv, const uint8_t *mask, int B,
                          int T, int C, int H, int causal) {
    US_ASSERT(out && att && qkv && B >= 0 && T >= 0 && H > 0 && C > 0 && C % H == 0);
    if (B == 0 || T == 0) return;
    int hs = C / H, C3 = 3 * C;
    float scale = (float)(1.0 / sqrt((double)hs));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs; /* rows t, stride 3C */
            const float *k = q + C;
            const float *v = q + 2 * C;
            float *a = att + ((size_t)b * H + h) * T * T;
            /* a[t,t2] = scale·q_t·k_t2:  a (T,T) = scale · Q (T,hs) · Kᵀ (hs,T). */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, C3, k, C3,
                        0.0f, a, T);
            /* a[t,:] = masked softmax of the scores of query t. */
            for (int t = 0; t < T; t++)
                nn_att_softmax_row(a + (size_t)t * T, mask, b, T, t, causal);
            /* out_t = Σ_t2 a[t,t2]·v_t2:  O (T,hs) = A (T,T) · V (T,hs), written with stride C. */
            float *o = out + (size_t)b * T * C + (size_t)h * hs;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, v, C3,
                        0.0f, o, C);
        }
}

void nn_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                           const float *att, const uint8_t *mask, int B, int T, int C, int H,
                           int causal) {
    US_ASSERT(dqkv && scratch && dout && qkv && att && B >= 0 && T >= 0 && H > 0 && C > 0 &&
              C % H == 0);
    (void)mask, (void)causal; /* not-allowed pairs already have att 0, which zeroes their ds */
    if (B == 0 || T == 0) return;
    int hs = C / H, C3 = 3 * C;
    float scale = (float)(1.0 / sqrt((double)hs));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t qoff = (size_t)b * T * C3 + (size_t)h * hs;
            const float *q = qkv + qoff, *k = q + C, *v = q + 2 * C;
            float *dq = dqkv + qoff, *dk = dq + C, *dv = dq + 2 * C;
            const float *a = att + ((size_t)b * H + h) * T * T;
            const float *dO = dout + (size_t)b * T * C + (size_t)h * hs;
            float *ds = scratch;
            /* Forward: O = A·V.
             *   dA[t,t2] = dout_t·v_t2:  dA (T,T) = dO (T,hs) · Vᵀ (hs,T)
             *   dV += Aᵀ (T,T) · dO (T,hs) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dO, C, v, C3,
                        0.0f, ds, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, dO, C,
                        1.0f, dv, C3);
            /* Forward: A[t,:] = softmax(S[t,:]).  dS = A·(dA - Σ_j A·dA), in place; the scale
             * of S = scale·Q·Kᵀ is folded into the sgemm alphas below. */
            for (int t = 0; t < T; t++) {
                const float *ar = a + (size_t)t * T;
                float *dr = ds + (size_t)t * T;
                double dot = 0.0;
                for (int t2 = 0; t2 < T; t2++) dot += (double)ar[t2] * dr[t2];
                float fdot = (float)dot;
                for (int t2 = 0; t2 < T; t2++) dr[t2] = ar[t2] * (dr[t2] - fdot);
            }
            /* Forward: S = scale·Q·Kᵀ.
             *   dQ += scale · dS (T,T) · K (T,hs);   dK += scale · dSᵀ (T,T) · Q (T,hs) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, ds, T, k, C3,
                        1.0f, dq, C3);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, ds, T, q, C3,
                        1.0f, dk, C3);
        }
}

void nn_attention_forward_naive(float *out, float *att, const float *qkv, const uint8_t *mask,
                                int B, int T, int C, int H, int causal) {
    US_ASSERT(out && att && qkv && B >= 0 && T >= 0 && H > 0 && C > 0 && C % H == 0);
    int hs = C / H, C3 = 3 * C;
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *a = att + (((size_t)b * H + h) * T + t) * T;
                /* a[t2] = q_t·k_t2 / sqrt(hs) for every key (masked ones are zeroed by the
                 * softmax) */
                for (int t2 = 0; t2 < T; t2++) {
                    const float *k = qkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    double s = 0.0;
                    for (int i = 0; i < hs; i++) s += (double)q[i] * k[i];
                    a[t2] = (float)(s * scale);
                }
                nn_att_softmax_row(a, mask, b, T, t, causal);
                /* out_t[i] = Σ_t2 a[t2]·v_t2[i] */
                float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int i = 0; i < hs; i++) {
                    double s = 0.0;
                    for (int t2 = 0; t2 < T; t2++)
                        s += (double)a[t2] * qkv[((size_t)b * T + t2) * C3 + 2 * C + h * hs + i];
                    o[i] = (float)s;
                }
            }
}

void nn_attention_backward_naive(float *dqkv, const float *dout, const float *qkv,
                                 const float *att, const uint8_t *mask, int B, int T, int C,
                                 int H, int causal) {
    US_ASSERT(dqkv && dout && qkv && att && B >= 0 && T >= 0 && H > 0 && C > 0 && C % H == 0);
    int hs = C / H, C3 = 3 * C;
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * H + h) * T + t) * T;
                const float *dO = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                size_t qi = ((size_t)b * T + t) * C3 + (size_t)h * hs;
                /* datt[t2] = dout_t·v_t2, and Σ_j a[j]·datt[j] for the softmax; computed twice
                 * rather than kept, so the reference needs no scratch. */
                double dot = 0.0;
                for (int t2 = 0; t2 < T; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * C + (size_t)h * hs;
                    double da = 0.0;
                    for (int i = 0; i < hs; i++) da += (double)dO[i] * v[i];
                    dot += a[t2] * da;
                }
                for (int t2 = 0; t2 < T; t2++) {
                    if (!nn_att_allowed(mask, b, T, t, t2, causal)) continue;
                    size_t ki = ((size_t)b * T + t2) * C3 + (size_t)h * hs;
                    const float *v = qkv + ki + 2 * C;
                    double da = 0.0;
                    for (int i = 0; i < hs; i++) da += (double)dO[i] * v[i];
                    /* out_t = Σ a[t2]·v_t2:   dv_t2 += a[t2]·dout_t */
                    for (int i = 0; i < hs; i++) dqkv[ki + 2 * C + i] += (float)(a[t2] * dO[i]);
                    /* a = softmax(s):  ds = a[t2]·(datt[t2] - Σ_j a[j]·datt[j]) */
                    double ds = a[t2] * (da - dot) * scale;
                    /* s = q_t·k_t2·scale:  dq_t += ds·k_t2;  dk_t2 += ds·q_t */
                    for (int i = 0; i < hs; i++) {
                        dqkv[qi + i] += (float)(ds * qkv[ki + C + i]);
                        dqkv[ki + C + i] += (float)(ds * qkv[qi + i]);
                    }
                }
            }
}

/* ------------------------------------------------------------------------------------------
 * Activations
 * ---------------------------------------------------------------------------------------- */

void nn_relu_forward(float *out, const float *inp, size_t n) {
    US_ASSERT(out && inp);
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void nn_relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    US_ASSERT(dinp && dout && inp);
    /* Forward: out = max(x, 0).  dx += dout where x > 0. */
    for (size_t i = 0; i < n; i++)
        if (inp[i] > 0.0f) dinp[i] += dout[i];
}

void nn_gelu_forward(float *out, const float *inp, size_t n) {
    US_ASSERT(out && inp);
    /* out = 0.5·x·(1 + erf(x/√2)) */
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * (float)NN_INV_SQRT2));
    }
}

void nn_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    US_ASSERT(dinp && dout && inp);
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        /* Forward: out = x·Φ(x).  d/dx = Φ(x) + x·φ(x), Φ(x) = 0.5·(1 + erf(x/√2)),
         * φ(x) = exp(-x²/2)/√(2π). */
        float cdf = 0.5f * (1.0f + erff(x * (float)NN_INV_SQRT2));
        float pdf = (float)NN_INV_SQRT_2PI * expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

void nn_gelu_tanh_forward(float *out, const float *inp, size_t n) {
    US_ASSERT(out && inp);
    /* out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = (float)NN_SQRT_2_OVER_PI * (x + (float)NN_GELU_TANH_K * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

void nn_gelu_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    US_ASSERT(dinp && dout && inp);
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        /* Forward: out = 0.5·x·(1 + tanh u), u = √(2/π)·(x + k·x³).
         * d/dx = 0.5·(1 + tanh u) + 0.5·x·(1 - tanh²u)·√(2/π)·(1 + 3k·x²). */
        float u = (float)NN_SQRT_2_OVER_PI * (x + (float)NN_GELU_TANH_K * x * x * x);
        float th = tanhf(u);
        float du = (float)NN_SQRT_2_OVER_PI * (1.0f + 3.0f * (float)NN_GELU_TANH_K * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
    }
}

/* ------------------------------------------------------------------------------------------
 * Dropout
 * ---------------------------------------------------------------------------------------- */

void nn_dropout_forward(float *out, uint8_t *mask, const float *inp, size_t n, float p,
                        int training, us_rng *rng) {
    US_ASSERT(out && inp && p >= 0.0f && p < 1.0f);
    if (!training || p == 0.0f) {
        if (out != inp) memmove(out, inp, n * sizeof(float));
        return;
    }
    US_ASSERT(mask && rng);
    float keep_scale = 1.0f / (1.0f - p);
    /* mask[i] = [u_i >= p], u_i uniform in [0,1): kept with probability 1-p.
     * out[i] = inp[i]·mask[i]/(1-p), so E[out] = inp. */
    for (size_t i = 0; i < n; i++) {
        mask[i] = us_rng_float(rng) >= p;
        out[i] = mask[i] ? inp[i] * keep_scale : 0.0f;
    }
}

void nn_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, size_t n, float p,
                         int training) {
    US_ASSERT(dinp && dout && p >= 0.0f && p < 1.0f);
    if (!training || p == 0.0f) {
        /* Forward: out = inp.  dinp += dout. */
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i];
        return;
    }
    US_ASSERT(mask);
    float keep_scale = 1.0f / (1.0f - p);
    /* Forward: out = inp·mask/(1-p).  dinp += dout·mask/(1-p). */
    for (size_t i = 0; i < n; i++)
        if (mask[i]) dinp[i] += dout[i] * keep_scale;
}

/* ------------------------------------------------------------------------------------------
 * Softmax, log-softmax
 * ---------------------------------------------------------------------------------------- */

/* max of x[0..V) (V > 0). */
static float nn_row_max(const float *x, int V) {
    float m = x[0];
    for (int v = 1; v < V; v++)
        if (x[v] > m) m = x[v];
    return m;
}

void nn_softmax_forward(float *out, const float *inp, int N, int V) {
    US_ASSERT(out && inp && N >= 0 && V > 0);
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *y = out + (size_t)n * V;
        /* y[v] = exp(x[v] - m) / Σ_j exp(x[j] - m): every exponent <= 0, no overflow, and the
         * sum is >= 1 (the max contributes exp(0)). */
        float m = nn_row_max(x, V);
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            y[v] = expf(x[v] - m);
            sum += y[v];
        }
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) y[v] *= inv;
    }
}

void nn_softmax_backward(float *dinp, const float *dout, const float *out, int N, int V) {
    US_ASSERT(dinp && dout && out && N >= 0 && V > 0);
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * V, *y = out + (size_t)n * V;
        float *dx = dinp + (size_t)n * V;
        /* Forward: y = softmax(x), ∂y_j/∂x_v = y_j·([j = v] - y_v).
         * dx[v] += Σ_j dy[j]·y_j·([j = v] - y_v) = y_v·(dy[v] - Σ_j dy[j]·y_j). */
        double s = 0.0;
        for (int v = 0; v < V; v++) s += (double)dy[v] * y[v];
        float fs = (float)s;
        for (int v = 0; v < V; v++) dx[v] += y[v] * (dy[v] - fs);
    }
}

void nn_logsoftmax_forward(float *out, const float *inp, int N, int V) {
    US_ASSERT(out && inp && N >= 0 && V > 0);
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *y = out + (size_t)n * V;
        /* y[v] = x[v] - (m + log Σ_j exp(x[j] - m)) */
        float m = nn_row_max(x, V);
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += expf(x[v] - m);
        float lse = m + (float)log(sum);
        for (int v = 0; v < V; v++) y[v] = x[v] - lse;
    }
}

void nn_logsoftmax_backward(float *dinp, const float *dout, const float *out, int N, int V) {
    US_ASSERT(dinp && dout && out && N >= 0 && V > 0);
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * V, *y = out + (size_t)n * V;
        float *dx = dinp + (size_t)n * V;
        /* Forward: y_j = x_j - lse(x), ∂y_j/∂x_v = [j = v] - softmax(x)_v = [j = v] - exp(y_v).
         * dx[v] += dy[v] - exp(y_v)·Σ_j dy[j]. */
        double s = 0.0;
        for (int v = 0; v < V; v++) s += dy[v];
        float fs = (float)s;
        for (int v = 0; v < V; v++) dx[v] += dy[v] - expf(y[v]) * fs;
    }
}

/* ------------------------------------------------------------------------------------------
 * Sigmoid binary cross-entropy
 * ---------------------------------------------------------------------------------------- */

/* σ(x) without overflow: for x < 0 use e^x/(1 + e^x), whose exponent is negative. */
static float nn_sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* count = #{i : w_i != 0} (n without weights). */
static size_t nn_bce_count(const float *weight, size_t n) {
    if (!weight) return n;
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += weight[i] != 0.0f;
    return c;
}

double nn_sigmoid_bce_forward(float *losses, const float *logits, const float *targets,
                              const float *weight, size_t n) {
    US_ASSERT(logits && targets);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = logits[i], y = targets[i];
        /* l = -(y·log σ(x) + (1-y)·log(1-σ(x))) = max(x,0) - x·y + log(1 + e^{-|x|}):
         * the exponent is never positive, so nothing overflows for any x. */
        double l = (x > 0.0 ? x : 0.0) - x * y + log1p(exp(-fabs(x)));
        if (losses) losses[i] = (float)l;
        sum += weight ? weight[i] * l : l;
    }
    size_t count = nn_bce_count(weight, n);
    return count ? sum / (double)count : 0.0;
}

void nn_sigmoid_bce_backward(float *dlogits, float dloss, const float *logits,
                             const float *targets, const float *weight, size_t n) {
    US_ASSERT(dlogits && logits && targets);
    size_t count = nn_bce_count(weight, n);
    if (!count) return;
    /* Forward: L = Σ w_i·l_i / count, dl_i/dx_i = σ(x_i) - y_i.
     * dx_i += dloss·w_i·(σ(x_i) - y_i)/count. */
    float g = dloss / (float)count;
    for (size_t i = 0; i < n; i++) {
        float w = weight ? weight[i] : 1.0f;
        if (w == 0.0f) continue;
        dlogits[i] += g * w * (nn_sigmoid(logits[i]) - targets[i]);
    }
}

/* ------------------------------------------------------------------------------------------
 * Adam / AdamW and clipping
 * ---------------------------------------------------------------------------------------- */

/* The constants of one Adam step, shared by the dense and the row-wise update so that both run
 * the same arithmetic on every element they touch. */
typedef struct adam_consts {
    float beta1, beta2, eps, step_size, bc2_sqrt, l2, shrink;
} adam_consts;

static adam_consts adam_prepare(float lr, float beta1, float beta2, float eps, float weight_decay,
                                int t, nn_decay decay) {
    US_ASSERT(t >= 1);
    US_ASSERT(decay == NN_DECAY_DECOUPLED || decay == NN_DECAY_L2);
    /* Bias corrections 1-β1^t and 1-β2^t, in double (β2^t drifts slowly; pow is exact enough
     * and the same on every call). */
    double bc1 = 1.0 - pow((double)beta1, (double)t);
    double bc2 = 1.0 - pow((double)beta2, (double)t);
    adam_consts k;
    k.beta1 = beta1;
    k.beta2 = beta2;
    k.eps = eps;
    k.step_size = (float)(lr / bc1);
    k.bc2_sqrt = (float)sqrt(bc2);
    k.l2 = decay == NN_DECAY_L2 ? weight_decay : 0.0f;
    k.shrink = decay == NN_DECAY_DECOUPLED ? 1.0f - lr * weight_decay : 1.0f;
    return k;
}

#ifdef NN_HAVE_AVX2_PATH
/* adam_range's arithmetic on eight elements at a time: the same operations in the same order,
 * each correctly rounded (vsqrtps and vdivps are IEEE like sqrtf and /; nothing is fused), so
 * the same bits as the scalar loop. Returns how many leading elements it did (a multiple of
 * eight); the scalar loop does the rest. */
__attribute__((target("avx"))) static size_t adam_range_avx(float *params, const float *grads,
                                                              float *m, float *v, size_t n,
                                                              const adam_consts *k) {
    const __m256 b1 = _mm256_set1_ps(k->beta1), b2 = _mm256_set1_ps(k->beta2);
    const __m256 c1 = _mm256_set1_ps(1.0f - k->beta1), c2 = _mm256_set1_ps(1.0f - k->beta2);
    const __m256 l2 = _mm256_set1_ps(k->l2), shrink = _mm256_set1_ps(k->shrink);
    const __m256 bc2 = _mm256_set1_ps(k->bc2_sqrt), eps = _mm256_set1_ps(k->eps);
    const __m256 step = _mm256_set1_ps(k->step_size);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 p = _mm256_loadu_ps(params + i);
        __m256 g = _mm256_add_ps(_mm256_loadu_ps(grads + i), _mm256_mul_ps(l2, p));
        p = _mm256_mul_ps(p, shrink);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, g));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(c2, g), g));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
        const __m256 upd = _mm256_mul_ps(step, _mm256_div_ps(mi, denom));
        _mm256_storeu_ps(params + i, _mm256_sub_ps(p, upd));
    }
    return i;
}
#endif

static void adam_range(float *params, const float *grads, float *m, float *v, size_t n,
                       const adam_consts *k) {
    float beta1 = k->beta1, beta2 = k->beta2;
    size_t i = 0;
#ifdef NN_HAVE_AVX2_PATH
    if (n >= 8 && __builtin_cpu_supports("avx")) i = adam_range_avx(params, grads, m, v, n, k);
#endif
    for (; i < n; i++) {
        /* L2 mode: g = grad + wd·p (the decay goes through the moments). */
        float g = grads[i] + k->l2 * params[i];
        /* Decoupled mode: p ← p·(1 - lr·wd), before the Adam step (torch.optim.AdamW). */
        float p = params[i] * k->shrink;
        /* m ← β1·m + (1-β1)·g;   v ← β2·v + (1-β2)·g² */
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        /* p ← p - (lr/bc1) · m / (sqrt(v)/sqrt(bc2) + eps), in PyTorch's order of operations */
        float denom = sqrtf(v[i]) / k->bc2_sqrt + k->eps;
        params[i] = p - k->step_size * (m[i] / denom);
    }
}

void nn_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr,
                     float beta1, float beta2, float eps, float weight_decay, int t,
                     nn_decay decay) {
    US_ASSERT(params && grads && m && v && t >= 1);
    adam_consts k = adam_prepare(lr, beta1, beta2, eps, weight_decay, t, decay);
    adam_range(params, grads, m, v, n, &k);
}

void nn_adam_rows_update(float *params, const float *grads, float *m, float *v,
                         const int32_t *rows, size_t n_rows, size_t C, float lr, float beta1,
                         float beta2, float eps, float weight_decay, int t, nn_decay decay) {
    US_ASSERT(params && grads && m && v && (rows || n_rows == 0) && t >= 1);
    adam_consts k = adam_prepare(lr, beta1, beta2, eps, weight_decay, t, decay);
    for (size_t r = 0; r < n_rows; r++) {
        US_ASSERT(rows[r] >= 0 && (r == 0 || rows[r] > rows[r - 1]));
        /* row rows[r]: the dense step's arithmetic on its C elements */
        size_t o = (size_t)rows[r] * C;
        adam_range(params + o, grads + o, m + o, v + o, C, &k);
    }
}

void nn_zero_rows(float *x, const int32_t *rows, size_t n_rows, size_t C) {
    US_ASSERT(x && (rows || n_rows == 0));
    for (size_t r = 0; r < n_rows; r++) {
        US_ASSERT(rows[r] >= 0);
        memset(x + (size_t)rows[r] * C, 0, C * sizeof(float));
    }
}

void nn_rowset_init(nn_rowset *s, uint32_t *stamp, int32_t *rows, size_t n_total, size_t cap) {
    US_ASSERT(s && (stamp || n_total == 0) && (rows || cap == 0));
    US_ASSERT(n_total <= (size_t)INT32_MAX);
    s->n_total = n_total;
    s->cap = cap < n_total ? cap : n_total;
    s->stamp = stamp;
    s->rows = rows;
    s->n = 0;
    s->mark = 1;
    memset(stamp, 0, n_total * sizeof *stamp);
}

void nn_rowset_clear(nn_rowset *s) {
    s->n = 0;
    /* a new mark makes every stamp stale; on wrap-around, clear them once */
    if (++s->mark == 0) {
        memset(s->stamp, 0, s->n_total * sizeof *s->stamp);
        s->mark = 1;
    }
}

void nn_rowset_add(nn_rowset *s, int32_t row) {
    US_ASSERT(row >= 0 && (size_t)row < s->n_total);
    if (s->stamp[row] == s->mark) return;
    US_ASSERT(s->n < s->cap);
    s->stamp[row] = s->mark;
    s->rows[s->n++] = row;
}

static int cmp_row(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void nn_rowset_sort(nn_rowset *s) {
    if (s->n > 1) qsort(s->rows, s->n, sizeof *s->rows, cmp_row);
}

double nn_clip_grad_norm(float *grads, size_t n, double max_norm) {
    US_ASSERT(grads || n == 0);
    /* ‖g‖ = sqrt(Σ g²), summed in double in index order. */
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    double norm = sqrt(ss);
    if (max_norm > 0.0 && norm > max_norm) {
        /* g ← g·max_norm/(‖g‖ + 1e-6) (torch.nn.utils.clip_grad_norm_'s coefficient) */
        float coef = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++) grads[i] *= coef;
    }
    return norm;
}

/* ------------------------------------------------------------------------------------------
 * Initializers
 * ---------------------------------------------------------------------------------------- */

void nn_init_normal(float *w, size_t n, float mean, float std, us_rng *rng) {
    US_ASSERT((w || n == 0) && rng);
    for (size_t i = 0; i < n; i++) w[i] = (float)(mean + std * us_rng_normal(rng));
}

void nn_init_uniform(float *w, size_t n, float lo, float hi, us_rng *rng) {
    US_ASSERT((w || n == 0) && rng && lo <= hi);
    /* w = lo + (hi - lo)·u, u uniform in [0,1) */
    for (size_t i = 0; i < n; i++) w[i] = lo + (hi - lo) * us_rng_float(rng);
}

void nn_init_xavier_uniform(float *w, int fan_out, int fan_in, float gain, us_rng *rng) {
    US_ASSERT(fan_out > 0 && fan_in > 0);
    /* a = gain·sqrt(6/(fan_in + fan_out)): the variance a²/3 = gain²·2/(fan_in + fan_out). */
    float a = (float)(gain * sqrt(6.0 / ((double)fan_in + fan_out)));
    nn_init_uniform(w, (size_t)fan_out * fan_in, -a, a, rng);
}

void nn_init_xavier_normal(float *w, int fan_out, int fan_in, float gain, us_rng *rng) {
    US_ASSERT(fan_out > 0 && fan_in > 0);
    /* std = gain·sqrt(2/(fan_in + fan_out)) */
    float std = (float)(gain * sqrt(2.0 / ((double)fan_in + fan_out)));
    nn_init_normal(w, (size_t)fan_out * fan_in, 0.0f, std, rng);
}

void nn_init_zero(float *w, size_t n) {
    US_ASSERT(w || n == 0);
    if (n) memset(w, 0, n * sizeof(float));
}

/* ------------------------------------------------------------------------------------------
 * Parameter block
 * ---------------------------------------------------------------------------------------- */

void nn_block_layout(nn_block *b, const size_t *sizes, size_t ntensors) {
    US_ASSERT(b && (sizes || ntensors == 0) && ntensors <= NN_BLOCK_MAX_TENSORS);
    memset(b, 0, sizeof *b);
    b->ntensors = ntensors;
    size_t off = 0;
    for (size_t i = 0; i < ntensors; i++) {
        b->offsets[i] = off;
        b->sizes[i] = sizes[i];
        US_ASSERT(sizes[i] <= SIZE_MAX / 4 - off); /* 4·nparams must not overflow */
        off += sizes[i];
    }
    b->nparams = off;
    b->total = 4 * off;
}

float *nn_block_section(const nn_block *b, float *base, nn_section s) {
    US_ASSERT(b && base && (int)s >= 0 && (int)s <= 3);
    return base + (size_t)s * b->nparams;
}

float *nn_block_tensor(const nn_block *b, float *base, nn_section s, size_t i) {
    US_ASSERT(b && i < b->ntensors);
    return nn_block_section(b, base, s) + b->offsets[i];
}

/* ------------------------------------------------------------------------------------------
 * Elementwise exp
 * ---------------------------------------------------------------------------------------- */

#define NN_EXP_LO (-87.33654f)        /* ln(FLT_MIN): below, 0 */
#define NN_EXP_HI 88.0f               /* above, +inf (so 2^n stays a normal float) */
#define NN_EXP_LOG2E 1.44269504088896341f
#define NN_EXP_C1 0.693359375f        /* ln2 = C1 + C2, C1 with few bits so n·C1 is exact */
#define NN_EXP_C2 (-2.12194440e-4f)
/* e^r ≈ 1 + r + r²·(P5 + r·(P4 + r·(P3 + r·(P2 + r·(P1 + r·P0))))) on |r| <= ln2/2 */
#define NN_EXP_P0 1.9875691500e-4f
#define NN_EXP_P1 1.3981999507e-3f
#define NN_EXP_P2 8.3334519073e-3f
#define NN_EXP_P3 4.1665795894e-2f
#define NN_EXP_P4 1.6666665459e-1f
#define NN_EXP_P5 5.0000001201e-1f

static float exp_one(float x) {
    if (!(x >= NN_EXP_LO)) return 0.0f; /* -inf, NaN and underflow */
    if (x > NN_EXP_HI) return INFINITY;
    const float n = nearbyintf(x * NN_EXP_LOG2E);
    float r = x - n * NN_EXP_C1;
    r = r - n * NN_EXP_C2;
    const float r2 = r * r;
    float p = NN_EXP_P0;
    p = p * r + NN_EXP_P1;
    p = p * r + NN_EXP_P2;
    p = p * r + NN_EXP_P3;
    p = p * r + NN_EXP_P4;
    p = p * r + NN_EXP_P5;
    p = p * r2 + r;
    p = p + 1.0f;
    /* 2^n: n + 127 in the exponent field (1 <= n + 127 <= 254 within the limits) */
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#ifdef NN_HAVE_AVX2_PATH
/* exp_one eight at a time: the same operations in the same order. Returns how many leading
 * elements it did (a multiple of eight). */
__attribute__((target("avx2"))) static size_t exp_avx2(float *y, const float *x, size_t n) {
    const __m256 lo = _mm256_set1_ps(NN_EXP_LO), hi = _mm256_set1_ps(NN_EXP_HI);
    const __m256 inf = _mm256_set1_ps(INFINITY), log2e = _mm256_set1_ps(NN_EXP_LOG2E);
    const __m256 c1 = _mm256_set1_ps(NN_EXP_C1), c2 = _mm256_set1_ps(NN_EXP_C2);
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        const __m256 zero_mask = _mm256_cmp_ps(xv, lo, _CMP_NGE_UQ); /* !(x >= lo) */
        const __m256 inf_mask = _mm256_cmp_ps(xv, hi, _CMP_GT_OQ);
        const __m256 nv = _mm256_round_ps(_mm256_mul_ps(xv, log2e),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 r = _mm256_sub_ps(xv, _mm256_mul_ps(nv, c1));
        r = _mm256_sub_ps(r, _mm256_mul_ps(nv, c2));
        const __m256 r2 = _mm256_mul_ps(r, r);
        __m256 p = _mm256_set1_ps(NN_EXP_P0);
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NN_EXP_P1));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NN_EXP_P2));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NN_EXP_P3));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NN_EXP_P4));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NN_EXP_P5));
        p = _mm256_add_ps(_mm256_mul_ps(p, r2), r);
        p = _mm256_add_ps(p, one);
        const __m256i e = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(nv), _mm256_set1_epi32(127)), 23);
        __m256 v = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
        v = _mm256_blendv_ps(v, inf, inf_mask);
        v = _mm256_andnot_ps(zero_mask, v);
        _mm256_storeu_ps(y + i, v);
    }
    return i;
}
#endif

void nn_exp(float *y, const float *x, size_t n) {
    US_ASSERT((y && x) || n == 0);
    size_t i = 0;
#ifdef NN_HAVE_AVX2_PATH
    if (n >= 8 && __builtin_cpu_supports("avx2")) i = exp_avx2(y, x, n);
#endif
    for (; i < n; i++) y[i] = exp_one(x[i]);
}

/* ------------------------------------------------------------------------------------------
 * Batch-inference kernels (the BERT encoder): loops the compiler vectorizes, each beside the
 * plain kernel a test compares it with. No reassociation the source does not spell out: an
 * 8-lane block computes exactly what eight scalar iterations would, so the vector and scalar
 * code (and an SSE2 or an AVX2 build of the same loop) give the same bits.
 * ---------------------------------------------------------------------------------------- */

#ifdef NN_HAVE_AVX2_PATH
#define NN_AVX2 __attribute__((target("avx2")))
#endif

/* erf(x) as x·P(x²)/Q(x²) on |x| < NN_ERF_ONE, ±1 beyond; P of degree 5 and Q of degree 5
 * (q0 = 1), fitted by iteratively reweighted least squares for the smallest maximum relative
 * error on [0, 3.92] (1.9e-8 in exact arithmetic, a third of float's half-ulp). erff itself
 * rounds to ±1 from |x| = 3.9192. Odd by construction: x² is the same for ±x and x·P/Q flips
 * sign exactly. NaN stays NaN (every comparison is false). */
#define NN_ERF_ONE 3.92f
#define NN_ERF_P0 1.1283791462487003f
#define NN_ERF_P1 1.9040078406925279e-01f
#define NN_ERF_P2 5.2748005666251541e-02f
#define NN_ERF_P3 3.7653892608774425e-03f
#define NN_ERF_P4 2.8487992351880487e-04f
#define NN_ERF_P5 2.0501551778462357e-06f
#define NN_ERF_Q1 5.0207104340428454e-01f
#define NN_ERF_Q2 1.1410679430259306e-01f
#define NN_ERF_Q3 1.4968750758486507e-02f
#define NN_ERF_Q4 1.1624852064405959e-03f
#define NN_ERF_Q5 3.8092287077809428e-05f

static inline __attribute__((always_inline)) uint32_t nn_f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline __attribute__((always_inline)) float nn_u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* One element of the rational erf. Every choice is made on the integer bits (|x|'s bits order
 * as |x| does, and an integer compare raises no floating-point exception), so GCC if-converts
 * the selects under the default -ftrapping-math and the loop of it vectorizes. */
static inline __attribute__((always_inline)) float nn_erf_rational(float x) {
    const uint32_t xb = nn_f2u(x), ab = xb & 0x7fffffffu, sign = xb & 0x80000000u;
    const uint32_t one_b = 0x3f800000u /* 1.0f */, inf_b = 0x7f800000u;
    const uint32_t cb = nn_f2u(NN_ERF_ONE);
    /* |x| clamped to 3.92 as an integer minimum (±inf and NaN too): P and Q stay finite */
    const float xc = nn_u2f(ab < cb ? ab : cb);
    const float u = xc * xc;
    const float p =
        ((((NN_ERF_P5 * u + NN_ERF_P4) * u + NN_ERF_P3) * u + NN_ERF_P2) * u + NN_ERF_P1) * u +
        NN_ERF_P0;
    const float q =
        ((((NN_ERF_Q5 * u + NN_ERF_Q4) * u + NN_ERF_Q3) * u + NN_ERF_Q2) * u + NN_ERF_Q1) * u +
        1.0f;
    uint32_t rb = nn_f2u(xc * p / q); /* erf(|x|) >= 0 */
    rb = rb < one_b ? rb : one_b;
    /* erf = 1 from 3.92 on, NaN stays NaN: masks rather than selects, so that the rational
     * above is needed on every path (a select lets GCC move it into a branch of its own) */
    const uint32_t m_one = 0u - (uint32_t)(ab >= cb), m_nan = 0u - (uint32_t)(ab > inf_b);
    rb = (rb & ~m_one) | (one_b & m_one);
    rb = (rb & ~m_nan) | (ab & m_nan);
    return nn_u2f(rb | sign);
}

/* out[i] = erf(inp[i]) or gelu(inp[i]) = 0.5·x·(1 + erf(x/√2)). Blocks of 8 through a local
 * array (which nothing aliases, and a fixed trip count: GCC's -O2 vectorizer needs both, and
 * out may be inp), then the same scalar code for the rest. */
static inline __attribute__((always_inline)) float nn_erf_or_gelu(float x, int gelu) {
    return gelu ? 0.5f * x * (1.0f + nn_erf_rational(x * (float)NN_INV_SQRT2))
                : nn_erf_rational(x);
}

static inline __attribute__((always_inline)) void nn_erf_body(float *out, const float *inp,
                                                             size_t n, int gelu) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8];
        memcpy(v, inp + i, sizeof v);
        for (int j = 0; j < 8; j++) v[j] = nn_erf_or_gelu(v[j], gelu);
        memcpy(out + i, v, sizeof v);
    }
    for (; i < n; i++) out[i] = nn_erf_or_gelu(inp[i], gelu);
}

/* The body with gelu a constant in each of these (so that the loop has no branch): plain
 * (SSE2, x86-64's baseline) and AVX2 copies. */
static void nn_erf_plain(float *out, const float *inp, size_t n) { nn_erf_body(out, inp, n, 0); }
static void nn_gelu_plain(float *out, const float *inp, size_t n) {
    nn_erf_body(out, inp, n, 1);
}
#ifdef NN_HAVE_AVX2_PATH
NN_AVX2 static void nn_erf_avx2(float *out, const float *inp, size_t n) {
    nn_erf_body(out, inp, n, 0);
}
NN_AVX2 static void nn_gelu_avx2(float *out, const float *inp, size_t n) {
    nn_erf_body(out, inp, n, 1);
}
#endif

void nn_erf_vec(float *out, const float *inp, size_t n) {
    US_ASSERT(out && inp);
#ifdef NN_HAVE_AVX2_PATH
    if (__builtin_cpu_supports("avx2")) {
        nn_erf_avx2(out, inp, n);
        return;
    }
#endif
    nn_erf_plain(out, inp, n);
}

void nn_gelu_forward_vec(float *out, const float *inp, size_t n) {
    US_ASSERT(out && inp);
#ifdef NN_HAVE_AVX2_PATH
    if (__builtin_cpu_supports("avx2")) {
        nn_gelu_avx2(out, inp, n);
        return;
    }
#endif
    nn_gelu_plain(out, inp, n);
}

/* Attention of one head of one packed sequence (n rows from qkv, out), written for the
 * vectorizer: restrict pointers into distinct buffers and inner loops of exactly 8 lanes.
 * kt (hs, n8) is K transposed and zero-padded to n8 = n rounded up to 8 columns; s (n8) one row
 * of scores. Each lane of a block is one key (scores) or one channel (the A·V product), and
 * sums its terms in the scalar order, so the result does not depend on the vector width. */
static inline __attribute__((always_inline)) void
nn_att_packed_head(float *restrict out, float *restrict kt, float *restrict s,
                   const float *restrict qkv, int n, int C, int hs, int h, float scale) {
    const int C3 = 3 * C, n8 = (n + 7) & ~7, hs8 = hs & ~7;
    const float *q0 = qkv + (size_t)h * hs, *k0 = q0 + C, *v0 = q0 + 2 * C;
    /* kt[i, t2] = k_t2[i], 0 for t2 in [n, n8) */
    for (int i = 0; i < hs; i++) {
        float *row = kt + (size_t)i * n8;
        for (int t2 = 0; t2 < n; t2++) row[t2] = k0[(size_t)t2 * C3 + i];
        for (int t2 = n; t2 < n8; t2++) row[t2] = 0.0f;
    }
    for (int t = 0; t < n; t++) {
        const float *q = q0 + (size_t)t * C3;
        /* s[t2] = scale·Σ_i q[i]·k_t2[i], i in order */
        for (int b = 0; b < n8; b += 8) {
            float acc[8] = {0};
            for (int i = 0; i < hs; i++) {
                const float qi = q[i], *kr = kt + (size_t)i * n8 + b;
                for (int j = 0; j < 8; j++) acc[j] += qi * kr[j];
            }
            for (int j = 0; j < 8; j++) s[b + j] = acc[j] * scale;
        }
        /* softmax over the n keys, as nn_att_softmax_row: max, expf, sum in double, scale */
        float m = s[0];
        for (int t2 = 1; t2 < n; t2++) m = s[t2] > m ? s[t2] : m;
        double sum = 0.0;
        for (int t2 = 0; t2 < n; t2++) {
            s[t2] = expf(s[t2] - m);
            sum += s[t2];
        }
        const float inv = (float)(1.0 / sum);
        for (int t2 = 0; t2 < n; t2++) s[t2] *= inv;
        /* out_t[i] = Σ_t2 s[t2]·v_t2[i], t2 in order */
        float *o = out + (size_t)t * C + (size_t)h * hs;
        for (int i0 = 0; i0 < hs8; i0 += 8) {
            float acc[8] = {0};
            for (int t2 = 0; t2 < n; t2++) {
                const float a = s[t2], *v = v0 + (size_t)t2 * C3 + i0;
                for (int j = 0; j < 8; j++) acc[j] += a * v[j];
            }
            for (int j = 0; j < 8; j++) o[i0 + j] = acc[j];
        }
        for (int i = hs8; i < hs; i++) {
            float acc = 0.0f;
            for (int t2 = 0; t2 < n; t2++) acc += s[t2] * v0[(size_t)t2 * C3 + i];
            o[i] = acc;
        }
    }
}

static inline __attribute__((always_inline)) void
nn_att_packed_body(float *out, float *scratch, const float *qkv, const int *offsets, int B, int C,
                   int H, int max_len) {
    const int hs = C / H;
    const float scale = (float)(1.0 / sqrt((double)hs));
    const int T8 = (max_len + 7) & ~7;
    float *kt = scratch, *s = scratch + (size_t)hs * T8;
    for (int b = 0; b < B; b++) {
        const int r0 = offsets[b], n = offsets[b + 1] - offsets[b];
        if (n <= 0) continue;
        for (int h = 0; h < H; h++)
            nn_att_packed_head(out + (size_t)r0 * C, kt, s, qkv + (size_t)r0 * 3 * C, n, C, hs,
                               h, scale);
    }
}

static void nn_att_packed_plain(float *out, float *scratch, const float *qkv, const int *offsets,
                                int B, int C, int H, int max_len) {
    nn_att_packed_body(out, scratch, qkv, offsets, B, C, H, max_len);
}
#ifdef NN_HAVE_AVX2_PATH
NN_AVX2 static void nn_att_packed_avx2(float *out, float *scratch, const float *qkv,
                                       const int *offsets, int B, int C, int H, int max_len) {
    nn_att_packed_body(out, scratch, qkv, offsets, B, C, H, max_len);
}
#endif

size_t nn_attention_packed_scratch(int C, int H, int max_len) {
    const size_t T8 = (size_t)((max_len + 7) & ~7);
    return (size_t)(C / H) * T8 + T8;
}

void nn_attention_packed_forward(float *out, float *scratch, const float *qkv, const int *offsets,
                                 int B, int C, int H, int max_len) {
    US_ASSERT(out && scratch && qkv && offsets && B >= 0 && H > 0 && C > 0 && C % H == 0);
    for (int b = 0; b < B; b++)
        US_ASSERT(offsets[b + 1] >= offsets[b] && offsets[b + 1] - offsets[b] <= max_len);
#ifdef NN_HAVE_AVX2_PATH
    if (__builtin_cpu_supports("avx2")) {
        nn_att_packed_avx2(out, scratch, qkv, offsets, B, C, H, max_len);
        return;
    }
#endif
    nn_att_packed_plain(out, scratch, qkv, offsets, B, C, H, max_len);
}

/* One row of nn_layernorm_forward_vec: out = inp (+ res), then layer norm in place on out.
 * Sums in double over 8 lanes (lane j takes c = j mod 8), reduced as
 * ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)), then the C mod 8 leftovers in order. */
static inline __attribute__((always_inline)) void
nn_ln_row(float *out, const float *inp, const float *res, const float *weight, const float *bias,
          int C, float eps) {
    const int C8 = C & ~7;
    if (res) {
        for (int c = 0; c < C8; c += 8) {
            float a[8], r[8];
            memcpy(a, inp + c, sizeof a);
            memcpy(r, res + c, sizeof r);
            for (int j = 0; j < 8; j++) a[j] += r[j];
            memcpy(out + c, a, sizeof a);
        }
        for (int c = C8; c < C; c++) out[c] = inp[c] + res[c];
    } else if (out != inp) {
        memcpy(out, inp, (size_t)C * sizeof(float));
    }
    /* μ = Σ_c x[c] / C */
    double s[8] = {0};
    for (int c = 0; c < C8; c += 8)
        for (int j = 0; j < 8; j++) s[j] += (double)out[c + j];
    double tot = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (int c = C8; c < C; c++) tot += out[c];
    const float mu = (float)(tot / C);
    /* σ² = Σ_c (x[c] - μ)² / C, two passes as the plain kernel */
    double q[8] = {0};
    for (int c = 0; c < C8; c += 8)
        for (int j = 0; j < 8; j++) {
            double d = (double)out[c + j] - mu;
            q[j] += d * d;
        }
    double qt = ((q[0] + q[4]) + (q[1] + q[5])) + ((q[2] + q[6]) + (q[3] + q[7]));
    for (int c = C8; c < C; c++) {
        double d = (double)out[c] - mu;
        qt += d * d;
    }
    const float rs = (float)(1.0 / sqrt(qt / C + (double)eps));
    /* y[c] = (x[c] - μ)·ρ·w[c] + b[c], the plain kernel's expression */
    for (int c = 0; c < C8; c += 8) {
        float v[8], w[8], b[8];
        memcpy(v, out + c, sizeof v);
        memcpy(w, weight + c, sizeof w);
        memcpy(b, bias + c, sizeof b);
        for (int j = 0; j < 8; j++) v[j] = (v[j] - mu) * rs * w[j] + b[j];
        memcpy(out + c, v, sizeof v);
    }
    for (int c = C8; c < C; c++) out[c] = (out[c] - mu) * rs * weight[c] + bias[c];
}

static void nn_ln_plain(float *out, const float *inp, const float *res, const float *weight,
                        const float *bias, int N, int C, float eps) {
    for (int n = 0; n < N; n++)
        nn_ln_row(out + (size_t)n * C, inp + (size_t)n * C, res ? res + (size_t)n * C : NULL,
                  weight, bias, C, eps);
}
#ifdef NN_HAVE_AVX2_PATH
NN_AVX2 static void nn_ln_avx2(float *out, const float *inp, const float *res,
                               const float *weight, const float *bias, int N, int C, float eps) {
    for (int n = 0; n < N; n++)
        nn_ln_row(out + (size_t)n * C, inp + (size_t)n * C, res ? res + (size_t)n * C : NULL,
                  weight, bias, C, eps);
}
#endif

void nn_layernorm_forward_vec(float *out, const float *inp, const float *res,
                              const float *weight, const float *bias, int N, int C, float eps) {
    US_ASSERT(out && inp && weight && bias && N >= 0 && C > 0);
#ifdef NN_HAVE_AVX2_PATH
    if (__builtin_cpu_supports("avx2")) {
        nn_ln_avx2(out, inp, res, weight, bias, N, C, eps);
        return;
    }
#endif
    nn_ln_plain(out, inp, res, weight, bias, N, C, eps);
}

int nn_blas_threads(void) { return openblas_get_num_threads(); }
void nn_blas_set_threads(int n) { openblas_set_num_threads(n); }
