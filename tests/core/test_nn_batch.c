/* test_nn_batch.c — the batch-inference kernels of core/nn.h against the plain kernels beside
 * them: the rational erf against glibc's erff over a dense sweep of every float magnitude,
 * nn_gelu_forward_vec against nn_gelu_forward, the fused residual layer norm against the sum
 * then nn_layernorm_forward, and the packed attention against
 * nn_attention_forward_naive on the same sequences padded and masked. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/nn.h"
#include "tests/gradcheck.h"
#include "tests/test.h"

static float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The float's rank on a line where neighbouring floats differ by 1 (-0 and +0 both 0), so that
 * the distance of two ranks is their distance in ulps. */
static long long float_rank(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    long long m = (long long)(u & 0x7fffffffu);
    return u & 0x80000000u ? -m : m;
}

TEST(nn_erf_vec_matches_erff_over_the_float_range) {
    /* Every 1021st bit pattern from +0 to +inf (2.1 million floats, every binade of both tiny
     * and huge magnitudes), each also negated; blocks of 4096 so that both the 8-lane blocks
     * and the scalar tail run. */
    enum { BLK = 4096 };
    static float x[2 * BLK], y[2 * BLK];
    long long worst_ulp = 0;
    double worst_abs = 0.0;
    float worst_x = 0.0f;
    size_t total = 0;
    int odd_ok = 1, bounded = 1;
    uint64_t b = 0;
    const uint64_t end = 0x7f800000u; /* +inf */
    while (b <= end) {
        size_t n = 0;
        for (; n < BLK - 3 && b <= end; b += 1021) {
            x[2 * n] = bits_to_float((uint32_t)b);
            x[2 * n + 1] = -x[2 * n];
            n++;
        }
        nn_erf_vec(y, x, 2 * n);
        for (size_t i = 0; i < 2 * n; i++) {
            float ref = erff(x[i]);
            long long d = llabs(float_rank(y[i]) - float_rank(ref));
            double a = fabs((double)y[i] - (double)ref);
            if (d > worst_ulp) worst_ulp = d, worst_x = x[i];
            if (a > worst_abs) worst_abs = a;
            if (!(fabsf(y[i]) <= 1.0f)) bounded = 0;
        }
        for (size_t i = 0; i < n; i++)
            if (y[2 * i + 1] != -y[2 * i]) odd_ok = 0;
        total += 2 * n;
    }
    printf("    nn_erf_vec vs erff over %zu floats: max %lld ulp (at %.9g), max abs %.3g\n", total,
           worst_ulp, worst_x, worst_abs);
    CHECK(total > 2000000);
    CHECK(worst_ulp <= NN_ERF_VEC_MAX_ULP);
    CHECK(worst_abs <= NN_ERF_VEC_MAX_ABS);
    CHECK(odd_ok);
    CHECK(bounded);
    /* Known values and the special ones. */
    float s[6] = {0.0f, 0.5f, 3.92f, INFINITY, -INFINITY, NAN}, o[6];
    nn_erf_vec(o, s, 6);
    CHECK(o[0] == 0.0f);
    CHECK_NEAR(o[1], 0.5204998778130465, 1e-7);
    CHECK(o[2] == 1.0f && o[3] == 1.0f && o[4] == -1.0f);
    CHECK(isnan(o[5]));
}

TEST(nn_erf_vec_blocks_tail_and_in_place_agree) {
    /* An element's value does not depend on whether it falls in an 8-lane block or the scalar
     * tail, nor on out aliasing inp. */
    us_rng rng;
    us_rng_seed(&rng, 7, 1);
    float x[203], y[203], z[203];
    us_gradcheck_fill(x, 203, -5.0f, 5.0f, &rng);
    nn_erf_vec(y, x, 203);
    for (int i = 0; i < 203; i++) nn_erf_vec(z + i, x + i, 1);
    CHECK(memcmp(y, z, sizeof y) == 0);
    memcpy(z, x, sizeof z);
    nn_erf_vec(z, z, 203);
    CHECK(memcmp(y, z, sizeof y) == 0);
    nn_gelu_forward_vec(y, x, 203);
    for (int i = 0; i < 203; i++) nn_gelu_forward_vec(z + i, x + i, 1);
    CHECK(memcmp(y, z, sizeof y) == 0);
}

TEST(nn_gelu_vec_matches_gelu) {
    /* 0.5·x·(1 + erf(x/√2)) with the rational erf against the same with erff, on a fine grid
     * over [-12, 12] (GELU's inputs in a transformer are O(1); beyond ±12 both give 0 or x).
     * Absolute error: 0.5·|x|·Δerf, largest where erf is near ±1. */
    enum { N = 480001 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    float *r = malloc(N * sizeof(float));
    REQUIRE(x && y && r);
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(N - 1);
    nn_gelu_forward_vec(y, x, N);
    nn_gelu_forward(r, x, N);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        double d = fabs((double)y[i] - (double)r[i]);
        if (d > worst) worst = d;
    }
    printf("    nn_gelu_forward_vec vs nn_gelu_forward on [-12, 12]: max abs %.3g\n", worst);
    /* 0.5·12·NN_ERF_VEC_MAX_ABS bounds the erf's share; plus one rounding of the result */
    CHECK(worst <= 6.0 * NN_ERF_VEC_MAX_ABS + 1e-6);
    CHECK(worst > 0.0); /* the two erfs differ somewhere: the comparison is not vacuous */
    free(x);
    free(y);
    free(r);
}

TEST(nn_attention_packed_matches_naive) {
    /* Texts of lengths 1, 0, 8, 13 and 17 (the tails of the 8-lane blocks) and hs = 12 (a
     * channel tail) and hs = 32 (MiniLM's), packed, against the naive masked attention over
     * the same texts padded to T = 17. */
    static const int lens[] = {1, 0, 8, 13, 17};
    enum { B = 5, T = 17 };
    static const int shapes[2][2] = {{36, 3}, {64, 2}}; /* C, H */
    for (int sh = 0; sh < 2; sh++) {
        const int C = shapes[sh][0], H = shapes[sh][1];
        us_rng rng;
        us_rng_seed(&rng, 11, (uint64_t)sh);
        int off[B + 1];
        off[0] = 0;
        for (int b = 0; b < B; b++) off[b + 1] = off[b] + lens[b];
        const int N = off[B];
        float *qkv = malloc((size_t)N * 3 * C * sizeof(float));
        float *out = malloc((size_t)N * C * sizeof(float));
        float *scr = malloc(nn_attention_packed_scratch(C, H, T) * sizeof(float));
        float *pq = calloc((size_t)B * T * 3 * C, sizeof(float));
        float *po = calloc((size_t)B * T * C, sizeof(float));
        float *att = calloc((size_t)B * H * T * T, sizeof(float));
        uint8_t *mask = calloc((size_t)B * T, 1);
        REQUIRE(qkv && out && scr && pq && po && att && mask);
        us_gradcheck_fill(qkv, (size_t)N * 3 * C, -2.0f, 2.0f, &rng);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < lens[b]; t++) {
                memcpy(pq + ((size_t)b * T + t) * 3 * C, qkv + (size_t)(off[b] + t) * 3 * C,
                       (size_t)3 * C * sizeof(float));
                mask[b * T + t] = 1;
            }
        nn_attention_packed_forward(out, scr, qkv, off, B, C, H, T);
        nn_attention_forward_naive(po, att, pq, mask, B, T, C, H, 0);
        double worst = 0.0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < lens[b]; t++)
                for (int c = 0; c < C; c++) {
                    double d = fabs((double)out[(size_t)(off[b] + t) * C + c] -
                                    (double)po[((size_t)b * T + t) * C + c]);
                    if (d > worst) worst = d;
                }
        /* float sums of at most 32 products of O(1) terms against double ones */
        if (worst > 2e-6)
            us_test_fail(t_, __FILE__, __LINE__, "C=%d H=%d: max abs diff %.3g", C, H, worst);
        free(qkv);
        free(out);
        free(scr);
        free(pq);
        free(po);
        free(att);
        free(mask);
    }
}

TEST(nn_layernorm_vec_matches_layernorm) {
    /* inp + res through nn_layernorm_forward_vec (in place on res, as a post-LN block does)
     * against the sum then nn_layernorm_forward; C = 384 (MiniLM) and 13 (an 8-lane tail);
     * rows offset by 3 so the mean matters. */
    static const int Cs[2] = {384, 13};
    for (int k = 0; k < 2; k++) {
        const int N = 7, C = Cs[k];
        us_rng rng;
        us_rng_seed(&rng, 21, (uint64_t)k);
        size_t n = (size_t)N * C;
        float *inp = malloc(n * sizeof(float)), *res = malloc(n * sizeof(float));
        float *sum = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
        float *alone = malloc(n * sizeof(float));
        float *w = malloc((size_t)C * sizeof(float)), *b = malloc((size_t)C * sizeof(float));
        float mean[7], rstd[7];
        REQUIRE(inp && res && sum && ref && alone && w && b);
        us_gradcheck_fill(inp, n, 2.0f, 4.0f, &rng);
        us_gradcheck_fill(res, n, -1.0f, 1.0f, &rng);
        us_gradcheck_fill(w, (size_t)C, 0.5f, 1.5f, &rng);
        us_gradcheck_fill(b, (size_t)C, -0.5f, 0.5f, &rng);
        for (size_t i = 0; i < n; i++) sum[i] = inp[i] + res[i];
        nn_layernorm_forward(ref, mean, rstd, sum, w, b, N, C, 1e-12f);
        nn_layernorm_forward_vec(alone, sum, NULL, w, b, N, C, 1e-12f);
        nn_layernorm_forward_vec(res, inp, res, w, b, N, C, 1e-12f);
        /* the residual sum is the same float expression: only the statistics' order differs */
        CHECK(memcmp(res, alone, n * sizeof(float)) == 0);
        double worst = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)res[i] - (double)ref[i]);
            if (d > worst) worst = d;
        }
        if (worst > 1e-6)
            us_test_fail(t_, __FILE__, __LINE__, "C=%d: max abs diff %.3g", C, worst);
        free(inp);
        free(res);
        free(sum);
        free(ref);
        free(alone);
        free(w);
        free(b);
    }
}
