/* rng.c — PCG32 (XSH-RR 64/32, O'Neill 2014) and the draws built on it: bounded integers,
 * uniform doubles and floats, normals, Bernoulli, categorical, jump-ahead, per-child streams
 * and shuffles.
 *
 * Seeding, stepping, bounded draws and jump-ahead follow the reference pcg32_srandom_r,
 * pcg32_random_r, pcg32_boundedrand_r and pcg32_advance_r exactly, so seed 42 / stream 54
 * reproduces the published demo output (see tests/core/test_rng.c). Every draw consumes a
 * fixed, documented number of 32-bit outputs where possible, so streams stay reproducible.
 *
 * It deliberately has no global generator, no time- or address-based seeding and no rand(). */
#include <math.h>
#include <string.h>

#include "core/core.h"

/* The 64-bit LCG multiplier of the reference PCG implementation (Knuth's MMIX constant). */
#define PCG_MULT 6364136223846793005ULL

/* 2^-53 and 2^26 as exact doubles, for us_rng_uniform. */
#define TWO_POW_M53 (1.0 / 9007199254740992.0)
#define TWO_POW_26 67108864.0

void us_rng_seed(us_rng *r, uint64_t seed, uint64_t stream) {
    /* pcg32_srandom_r: the stream selects the (odd) increment; the seed is added to the state
     * between two steps so that nearby seeds start far apart. */
    r->state = 0;
    r->inc = (stream << 1) | 1u;
    (void)us_rng_u32(r);
    r->state += seed;
    (void)us_rng_u32(r);
}

uint32_t us_rng_u32(us_rng *r) {
    uint64_t old = r->state;
    /* LCG step: state' = state * a + c (mod 2^64). */
    r->state = old * PCG_MULT + r->inc;
    /* Output from the old state (more instruction-level parallelism): xorshift the high bits
     * down ("XSH"), keep 32 of them, then rotate right by the top 5 bits ("RR"). */
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((0u - rot) & 31u));
}

uint32_t us_rng_bounded(us_rng *r, uint32_t bound) {
    US_ASSERT(bound > 0);
    /* Reject the lowest (2^32 mod bound) outputs, which would otherwise make small residues
     * more likely; (2^32 - bound) mod bound == 2^32 mod bound, computed in 32 bits. What is
     * left is a whole number of copies of [0, bound), so r % bound is exactly uniform. Fewer
     * than half the draws are rejected in the worst case (bound just above 2^31). */
    uint32_t threshold = (0u - bound) % bound;
    for (;;) {
        uint32_t x = us_rng_u32(r);
        if (x >= threshold) return x % bound;
    }
}

double us_rng_uniform(us_rng *r) {
    /* Two draws, first a then b: ((a >> 5) * 2^26 + (b >> 6)) / 2^53, i.e. 27 high bits of a
     * over 26 high bits of b. The result is a multiple of 2^-53 in [0, 1 - 2^-53]. */
    uint32_t a = us_rng_u32(r) >> 5;
    uint32_t b = us_rng_u32(r) >> 6;
    return ((double)a * TWO_POW_26 + (double)b) * TWO_POW_M53;
}

float us_rng_float(us_rng *r) {
    /* One draw: the high 24 bits times 2^-24, a multiple of 2^-24 in [0, 1 - 2^-24]. */
    return (float)(us_rng_u32(r) >> 8) * 0x1p-24f;
}

double us_rng_normal(us_rng *r) {
    /* Box-Muller: for u1 in (0, 1] and u2 in [0, 1),
     *   z = sqrt(-2 ln u1) * cos(2 pi u2)
     * is standard normal. u1 = 1 - uniform avoids log(0). The companion sine value is thrown
     * away so that every call costs the same two uniforms (four 32-bit draws) and the
     * generator holds no cached value. */
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = 1.0 - us_rng_uniform(r);
    double u2 = us_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

int us_rng_bernoulli(us_rng *r, double p) {
    /* One uniform (two 32-bit draws) always, whatever p, so the stream position does not
     * depend on p. u < p is never true for p <= 0 (u >= 0) or p NaN, and always true for
     * p >= 1 (u <= 1 - 2^-53), which gives the documented edge cases without branches. */
    double u = us_rng_uniform(r);
    return u < p;
}

uint32_t us_rng_categorical(us_rng *r, const double *w, uint32_t n) {
    US_ASSERT(n > 0 && w);
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) sum += w[i];
    US_ASSERT(sum > 0); /* also false for NaN */
    /* Inverse CDF by a linear scan: the first i with x < w[0] + ... + w[i]. Zero weights are
     * never chosen, because the running sum does not grow across them. */
    double x = us_rng_uniform(r) * sum;
    double acc = 0;
    uint32_t last = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (w[i] > 0) {
            acc += w[i];
            last = i;
            if (x < acc) return i;
        }
    }
    /* Rounding can leave the final running sum a hair below x; the answer is then the last
     * index with positive weight. */
    return last;
}

void us_rng_advance(us_rng *r, uint64_t delta) {
    /* Jump ahead by composing LCG steps (Brown, "Random number generation with arbitrary
     * strides", 1994), as in the reference pcg_advance_lcg_64. One step is the affine map
     * f(s) = a s + c. Squaring it gives f^2(s) = a^2 s + (a + 1) c, so f^(2^k) is obtained by
     * repeated squaring, and f^delta is the composition of the f^(2^k) for the set bits of
     * delta: acc(s) = acc_a s + acc_c, updated as acc <- f^(2^k) o acc. All mod 2^64;
     * a "negative" delta (2^64 - k) therefore moves k steps back. */
    uint64_t cur_a = PCG_MULT, cur_c = r->inc;
    uint64_t acc_a = 1, acc_c = 0;
    while (delta > 0) {
        if (delta & 1) {
            acc_a *= cur_a;
            acc_c = acc_c * cur_a + cur_c;
        }
        cur_c = (cur_a + 1) * cur_c;
        cur_a *= cur_a;
        delta >>= 1;
    }
    r->state = acc_a * r->state + acc_c;
}

/* The splitmix64 output function (Steele, Lea and Flood 2014): a bijection on 64-bit words
 * with strong avalanche. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

us_rng us_rng_derive(uint64_t seed, uint64_t index) {
    /* Child `index` takes outputs 2*index + 1 and 2*index + 2 of the splitmix64 sequence that
     * starts at x = mix64(seed), whose k-th output is mix64(x + k * G) with G the odd golden
     * ratio constant:
     *   init   = mix64(x + (2 index + 1) G)
     *   stream = mix64(x + (2 index + 2) G)
     * and then seeds like pcg32_srandom_r(init, stream). Both words depend on seed and index,
     * so siblings differ in their starting state and (almost surely) in their stream. For one
     * seed, k -> mix64(x + k G) is a bijection, so distinct indices below 2^63 always get
     * distinct init words and therefore distinct starting states. The child depends only on
     * (seed, index), never on how many siblings exist or in which order they are made. */
    const uint64_t G = 0x9e3779b97f4a7c15ULL;
    uint64_t x = mix64(seed);
    uint64_t init = mix64(x + (2 * index + 1) * G);
    uint64_t stream = mix64(x + (2 * index + 2) * G);
    us_rng r;
    us_rng_seed(&r, init, stream);
    return r;
}

/* Unbiased integer in [0, bound) for bounds past 32 bits: 64-bit words from two draws (high
 * then low) with the same threshold rejection as us_rng_bounded. */
static uint64_t bounded64(us_rng *r, uint64_t bound) {
    uint64_t threshold = (0u - bound) % bound;
    for (;;) {
        uint64_t hi = us_rng_u32(r);
        uint64_t x = (hi << 32) | us_rng_u32(r);
        if (x >= threshold) return x % bound;
    }
}

/* Swaps two non-overlapping elements of elsize bytes, through a small stack buffer. */
static void swap_bytes(unsigned char *a, unsigned char *b, size_t elsize) {
    unsigned char tmp[64];
    while (elsize > 0) {
        size_t k = elsize < sizeof tmp ? elsize : sizeof tmp;
        memcpy(tmp, a, k);
        memcpy(a, b, k);
        memcpy(b, tmp, k);
        a += k;
        b += k;
        elsize -= k;
    }
}

void us_rng_shuffle(us_rng *r, void *base, size_t n, size_t elsize) {
    if (n < 2 || elsize == 0) return;
    US_ASSERT(base);
    unsigned char *p = base;
    /* Fisher-Yates, from the end: for i = n .. 2, swap element i-1 with a uniform j in
     * [0, i). Every permutation is equally likely. One us_rng_bounded draw per i below
     * 2^32 (two-word draws past it), in the same order as the reference demo's card deal. */
    for (size_t i = n; i > 1; i--) {
        size_t j = i <= UINT32_MAX ? (size_t)us_rng_bounded(r, (uint32_t)i)
                                   : (size_t)bounded64(r, (uint64_t)i);
        if (j == i - 1) continue;
        unsigned char *a = p + j * elsize, *b = p + (i - 1) * elsize;
        if (elsize == 4) {
            uint32_t t, u;
            memcpy(&t, a, 4);
            memcpy(&u, b, 4);
            memcpy(a, &u, 4);
            memcpy(b, &t, 4);
        } else if (elsize == 8) {
            uint64_t t, u;
            memcpy(&t, a, 8);
            memcpy(&u, b, 8);
            memcpy(a, &u, 8);
            memcpy(b, &t, 8);
        } else {
            swap_bytes(a, b, elsize);
        }
    }
}
