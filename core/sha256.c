/* sha256.c — SHA-256 as specified in FIPS 180-4 (sections 4.1.2, 4.2.2, 5.1.1, 5.3.3, 6.2),
 * used to fingerprint input files and configurations.
 *
 * Whole 64-byte blocks are compressed straight from the caller's buffer (big-endian loads are
 * done byte-wise, so any alignment works); only a partial block is copied into the state.
 * It deliberately has no CPU-specific (SHA-NI, ARMv8 crypto) paths and no HMAC. */
#include <string.h>

#include "core/core.h"

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

void us_sha256_init(us_sha256 *s) {
    /* H(0): the first 32 bits of the fractional parts of the square roots of the first 8
     * primes (section 5.3.3). */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->nbytes = 0;
    s->nbuf = 0;
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
        compress(s->h, s->buf, 1);
        s->nbuf = 0;
    }
    /* Whole blocks straight from the input. */
    size_t nblocks = n / 64;
    if (nblocks) {
        compress(s->h, p, nblocks);
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
        compress(s->h, s->buf, 1);
        k = 0;
    }
    memset(s->buf + k, 0, 56 - k);
    store_be32(s->buf + 56, (uint32_t)(bits >> 32));
    store_be32(s->buf + 60, (uint32_t)bits);
    compress(s->h, s->buf, 1);
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
