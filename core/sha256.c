/* sha256.c — SHA-256 as specified in FIPS 180-4 (sections 4.1.2, 4.2.2, 5.1.1, 5.3.3, 6.2),
 * used to fingerprint input files and configurations.
 *
 * Whole 64-byte blocks are compressed straight from the caller's buffer (big-endian loads are
 * done byte-wise, so any alignment works); only a partial block is copied into the state.
 * On x86 CPUs with the SHA extensions (plus SSSE3 and SSE4.1) blocks go through
 * SHA256RNDS2/MSG1/MSG2 instead; us_sha256_init asks cpuid each time and records the choice in
 * the context, so there is no global state and no special compiler flag (the one function that
 * needs the instructions is compiled with a target attribute). The portable function stays as
 * the reference the hardware one is tested against (tests/core/test_sha256.c).
 * It deliberately has no ARMv8 crypto path, no multi-buffer hashing and no HMAC. */
#include <string.h>

#include "core/core.h"
#include "core/internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define SHA256_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define SHA256_X86 0
#endif

/* K[t]: the first 32 bits of the fractional parts of the cube roots of the first 64 primes
 * (FIPS 180-4 section 4.2.2). */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The section 4.1.2 functions. */
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (rotr((x), 2) ^ rotr((x), 13) ^ rotr((x), 22))
#define BSIG1(x) (rotr((x), 6) ^ rotr((x), 11) ^ rotr((x), 25))
#define SSIG0(x) (rotr((x), 7) ^ rotr((x), 18) ^ ((x) >> 3))
#define SSIG1(x) (rotr((x), 17) ^ rotr((x), 19) ^ ((x) >> 10))

/* Compresses nblocks consecutive 64-byte blocks into h (section 6.2.2). */
static void compress(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    uint32_t w[64];
    while (nblocks--) {
        /* 1. Message schedule: W[0..15] are the block's big-endian words, then
         *    W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16]. */
        for (int t = 0; t < 16; t++) w[t] = load_be32(p + 4 * t);
        for (int t = 16; t < 64; t++)
            w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) + w[t - 16];

        /* 2-3. Working variables a..h start at the hash so far; 64 rounds of
         *    T1 = h + Sigma1(e) + Ch(e,f,g) + K[t] + W[t],  T2 = Sigma0(a) + Maj(a,b,c),
         *    then shift: h=g g=f f=e e=d+T1 d=c c=b b=a a=T1+T2. Unrolled by 8 with the
         *    variables renamed instead of shifted, so the compiler keeps them in registers. */
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
        uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
#define ROUND(a, b, c, d, e, f, g, h, t)                                                   \
    do {                                                                                   \
        uint32_t t1 = (h) + BSIG1(e) + CH(e, f, g) + K[t] + w[t];                          \
        uint32_t t2 = BSIG0(a) + MAJ(a, b, c);                                             \
        (d) += t1;                                                                         \
        (h) = t1 + t2;                                                                     \
    } while (0)
        for (int t = 0; t < 64; t += 8) {
            ROUND(a, b, c, d, e, f, g, hh, t + 0);
            ROUND(hh, a, b, c, d, e, f, g, t + 1);
            ROUND(g, hh, a, b, c, d, e, f, t + 2);
            ROUND(f, g, hh, a, b, c, d, e, t + 3);
            ROUND(e, f, g, hh, a, b, c, d, t + 4);
            ROUND(d, e, f, g, hh, a, b, c, t + 5);
            ROUND(c, d, e, f, g, hh, a, b, t + 6);
            ROUND(b, c, d, e, f, g, hh, a, t + 7);
        }
#undef ROUND
        /* 4. Add the compressed block into the intermediate hash. */
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
        p += 64;
    }
}

#if SHA256_X86
/* 1 when the CPU has what compress_shani uses: cpuid leaf 1 ECX bit 9 (SSSE3) and bit 19
 * (SSE4.1), leaf 7 subleaf 0 EBX bit 29 (SHA). The cpuid.h helpers return 0 when a leaf is
 * beyond the CPU's maximum, which then reads as "no". */
static int cpu_has_sha(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19))) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (int)((b >> 29) & 1u);
}

/* compress() with the SHA extensions: nblocks consecutive 64-byte blocks into h.
 *
 * SHA256RNDS2 does two rounds. It keeps the working variables in two registers, written here
 * with lane 0 first: "abef" holds (F, E, B, A) and "cdgh" holds (H, G, D, C); the low two lanes
 * of its third operand are W[t] + K[t] and W[t+1] + K[t+1]. It returns the new (F, E, B, A),
 * and the new C, D, G, H are the old A, B, E, F, so two calls with the registers swapped make
 * four rounds. SHA256MSG1 and SHA256MSG2 compute the sigma0 and sigma1 halves of the message
 * schedule four words at a time; the W[t-7] term in between is one PALIGNR. */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_shani(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    /* PSHUFB control that reverses the bytes of each 32-bit lane: big-endian words in. */
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);

    /* h as (A, B, C, D) and (E, F, G, H) -> (F, E, B, A) and (H, G, D, C). */
    __m128i abcd = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i efgh = _mm_loadu_si128((const __m128i *)&h[4]);
    __m128i t0 = _mm_shuffle_epi32(abcd, 0xB1);     /* (B, A, D, C) */
    __m128i t1 = _mm_shuffle_epi32(efgh, 0x1B);     /* (H, G, F, E) */
    __m128i abef = _mm_alignr_epi8(t0, t1, 8);      /* (F, E, B, A): t1's top half, t0's low */
    __m128i cdgh = _mm_blend_epi16(t1, t0, 0xF0);   /* (H, G, D, C): t1's low half, t0's top */

    /* Rounds 4i..4i+3 with the schedule words m = W[4i..4i+3]: first wk = W + K, rounds 4i and
     * 4i+1 (the result is the new A,B,E,F, so it goes into cdgh while abef now holds C,D,G,H),
     * then rounds 4i+2 and 4i+3 on the high half of wk, which swaps the names back. */
#define ROUNDS4(m, i)                                                                      \
    do {                                                                                   \
        __m128i wk = _mm_add_epi32((m), _mm_loadu_si128((const __m128i *)(K + 4 * (i))));  \
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);                                      \
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));             \
    } while (0)
    /* With a = W[t-16..t-13], b = W[t-12..t-9], c = W[t-8..t-5], d = W[t-4..t-1], replaces a
     * by W[t..t+3] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16]:
     * MSG1(a, b) = W[t-16] + sigma0(W[t-15]) per lane; ALIGNR(d, c, 4) = W[t-7..t-4];
     * MSG2 adds sigma1 of the two words before each lane, using d for the first two. */
#define SCHEDULE(a, b, c, d)                                                               \
    (a) = _mm_sha256msg2_epu32(                                                            \
        _mm_add_epi32(_mm_sha256msg1_epu32((a), (b)), _mm_alignr_epi8((d), (c), 4)), (d))

    while (nblocks--) {
        __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        ROUNDS4(m0, 0);
        ROUNDS4(m1, 1);
        ROUNDS4(m2, 2);
        ROUNDS4(m3, 3);
        for (int i = 4; i < 16; i += 4) {
            SCHEDULE(m0, m1, m2, m3);
            ROUNDS4(m0, i + 0);
            SCHEDULE(m1, m2, m3, m0);
            ROUNDS4(m1, i + 1);
            SCHEDULE(m2, m3, m0, m1);
            ROUNDS4(m2, i + 2);
            SCHEDULE(m3, m0, m1, m2);
            ROUNDS4(m3, i + 3);
        }
        /* 4. Add the compressed block into the intermediate hash. */
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
        p += 64;
    }
#undef SCHEDULE
#undef ROUNDS4

    /* Back to (A, B, C, D) and (E, F, G, H). */
    t0 = _mm_shuffle_epi32(abef, 0x1B);             /* (A, B, E, F) */
    t1 = _mm_shuffle_epi32(cdgh, 0xB1);             /* (G, H, C, D) */
    abcd = _mm_blend_epi16(t0, t1, 0xF0);           /* (A, B, C, D) */
    efgh = _mm_alignr_epi8(t1, t0, 8);              /* (E, F, G, H) */
    _mm_storeu_si128((__m128i *)&h[0], abcd);
    _mm_storeu_si128((__m128i *)&h[4], efgh);
}
#endif

/* nblocks whole blocks into s->h through the block function chosen at init. */
static void compress_blocks(us_sha256 *s, const uint8_t *p, size_t nblocks) {
#if SHA256_X86
    if (s->hw) {
        compress_shani(s->h, p, nblocks);
        return;
    }
#endif
    compress(s->h, p, nblocks);
}

void us_sha256_init_portable(us_sha256 *s) {
    /* H(0): the first 32 bits of the fractional parts of the square roots of the first 8
     * primes (section 5.3.3). */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->nbytes = 0;
    s->nbuf = 0;
    s->hw = 0;
}

void us_sha256_init(us_sha256 *s) {
    us_sha256_init_portable(s);
#if SHA256_X86
    s->hw = cpu_has_sha();
#endif
}

void us_sha256_update(us_sha256 *s, const void *data, size_t n) {
    const uint8_t *p = data;
    if (n == 0) return;
    s->nbytes += n;
    if (s->nbuf > 0) {
        /* Top up the pending partial block first. */
        size_t k = 64 - s->nbuf;
        if (k > n) k = n;
        memcpy(s->buf + s->nbuf, p, k);
        s->nbuf += k;
        p += k;
        n -= k;
        if (s->nbuf < 64) return;
        compress_blocks(s, s->buf, 1);
        s->nbuf = 0;
    }
    /* Whole blocks straight from the input. */
    size_t nblocks = n / 64;
    if (nblocks) {
        compress_blocks(s, p, nblocks);
        p += 64 * nblocks;
        n -= 64 * nblocks;
    }
    if (n) {
        memcpy(s->buf, p, n);
        s->nbuf = n;
    }
}

void us_sha256_final(us_sha256 *s, uint8_t digest[32]) {
    /* Padding (section 5.1.1): a 1 bit, zeros up to 56 mod 64 bytes, then the message length
     * in bits as a 64-bit big-endian number. */
    uint64_t bits = s->nbytes * 8;
    size_t k = s->nbuf;
    s->buf[k++] = 0x80;
    if (k > 56) {
        memset(s->buf + k, 0, 64 - k);
        compress_blocks(s, s->buf, 1);
        k = 0;
    }
    memset(s->buf + k, 0, 56 - k);
    store_be32(s->buf + 56, (uint32_t)(bits >> 32));
    store_be32(s->buf + 60, (uint32_t)bits);
    compress_blocks(s, s->buf, 1);
    for (int i = 0; i < 8; i++) store_be32(digest + 4 * i, s->h[i]);
}

void us_sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char xd[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = xd[digest[i] >> 4];
        hex[2 * i + 1] = xd[digest[i] & 15];
    }
    hex[64] = '\0';
}
