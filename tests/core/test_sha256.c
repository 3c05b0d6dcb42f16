/* test_sha256.c — SHA-256 against the FIPS 180-4 example vectors (NIST "SHA256.pdf" examples
 * and the long-message vector of FIPS 180-2 appendix B.3), padding boundaries, and incremental
 * updates in odd-sized pieces, each on the block function us_sha256_init picks (the SHA
 * extensions where the CPU has them) and on the portable one; then the two paths against each
 * other on random data. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/internal.h"
#include "tests/test.h"

typedef void (*init_fn)(us_sha256 *s);

static const char *digest_hex(init_fn init, const void *data, size_t n, char hex[65]) {
    us_sha256 s;
    uint8_t d[32];
    init(&s);
    us_sha256_update(&s, data, n);
    us_sha256_final(&s, d);
    us_sha256_hex(d, hex);
    return hex;
}

static void check_fips_vectors(us_test_ctx *t_, init_fn init) {
    char hex[65];
    CHECK_STR(digest_hex(init, "", 0, hex),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(digest_hex(init, "abc", 3, hex),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* The 448-bit (56-byte) message: padding needs a second block. */
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_EQ_INT(strlen(m448), 56);
    CHECK_STR(digest_hex(init, m448, 56, hex),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* The 896-bit (112-byte) message. */
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                       "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK_EQ_INT(strlen(m896), 112);
    CHECK_STR(digest_hex(init, m896, 112, hex),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* One million 'a', fed in 1000-byte updates. */
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    us_sha256 s;
    uint8_t d[32];
    init(&s);
    for (int i = 0; i < 1000; i++) us_sha256_update(&s, chunk, sizeof chunk);
    us_sha256_final(&s, d);
    us_sha256_hex(d, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* The same million bytes in one update: 15625 blocks in one call of the block function. */
    char *big = malloc(1000000);
    REQUIRE(big);
    memset(big, 'a', 1000000);
    CHECK_STR(digest_hex(init, big, 1000000, hex),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(big);
}

TEST(sha256_fips_vectors) { check_fips_vectors(t_, us_sha256_init); }
TEST(sha256_fips_vectors_portable) { check_fips_vectors(t_, us_sha256_init_portable); }

static void check_padding_boundaries(us_test_ctx *t_, init_fn init) {
    /* 55 bytes: the length fits in the same block; 56: it does not; 64: a whole block.
     * Values from Python's hashlib.sha256(b"a" * n). */
    char a[64], hex[65];
    memset(a, 'a', sizeof a);
    CHECK_STR(digest_hex(init, a, 55, hex),
              "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    CHECK_STR(digest_hex(init, a, 56, hex),
              "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    CHECK_STR(digest_hex(init, a, 64, hex),
              "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(sha256_padding_boundaries) { check_padding_boundaries(t_, us_sha256_init); }
TEST(sha256_padding_boundaries_portable) {
    check_padding_boundaries(t_, us_sha256_init_portable);
}

static void check_odd_pieces(us_test_ctx *t_, init_fn init) {
    /* 1000 bytes (7 i + 3) mod 256: hashlib.sha256(bytes((i*7+3) & 255 for i in
     * range(1000))). */
    enum { N = 1000 };
    unsigned char data[N + 1];
    for (int i = 0; i < N; i++) data[i] = (unsigned char)((i * 7 + 3) & 255);
    char one[65], hex[65];
    digest_hex(init, data, N, one);
    CHECK_STR(one, "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371");

    /* Every piece size 1..130, and a mixed pattern of sizes, from an unaligned buffer. */
    memmove(data + 1, data, N);
    const unsigned char *src = data + 1;
    for (size_t piece = 1; piece <= 130; piece++) {
        us_sha256 s;
        uint8_t d[32];
        init(&s);
        for (size_t off = 0; off < N; off += piece)
            us_sha256_update(&s, src + off, off + piece <= N ? piece : N - off);
        us_sha256_final(&s, d);
        us_sha256_hex(d, hex);
        CHECK_STR(hex, one);
    }
    const size_t pattern[] = {0, 1, 63, 2, 64, 65, 127, 5, 0, 200, 3};
    us_sha256 s;
    uint8_t d[32];
    init(&s);
    size_t off = 0;
    for (size_t k = 0; off < N; k++) {
        size_t p = pattern[k % (sizeof pattern / sizeof pattern[0])];
        if (p > N - off) p = N - off;
        us_sha256_update(&s, src + off, p);
        off += p;
    }
    us_sha256_final(&s, d);
    us_sha256_hex(d, hex);
    CHECK_STR(hex, one);
}

TEST(sha256_odd_pieces_match_one_shot) { check_odd_pieces(t_, us_sha256_init); }
TEST(sha256_odd_pieces_match_one_shot_portable) {
    check_odd_pieces(t_, us_sha256_init_portable);
}

/* Hashes p[0..n) in pieces of random sizes: empty ones, a block or less, whole blocks, and
 * runs of many blocks that reach the block function in one call. Returns the context's hw. */
static int hash_in_random_pieces(init_fn init, const uint8_t *p, size_t n, us_rng *rng,
                                 uint8_t d[32]) {
    us_sha256 s;
    init(&s);
    size_t off = 0;
    while (off < n) {
        size_t k;
        switch (us_rng_bounded(rng, 4)) {
        case 0: k = us_rng_bounded(rng, 65); break;
        case 1: k = 64 * (size_t)us_rng_bounded(rng, 4); break;
        case 2: k = us_rng_bounded(rng, 1000); break;
        default: k = us_rng_bounded(rng, 1u << 18); break;
        }
        if (k > n - off) k = n - off;
        us_sha256_update(&s, p + off, k);
        off += k;
    }
    us_sha256_final(&s, d);
    return s.hw;
}

TEST(sha256_hw_matches_portable) {
    us_sha256 probe;
    us_sha256_init(&probe);
    if (!probe.hw) {
#if defined(__x86_64__) || defined(__i386__)
        SKIP("this CPU lacks the SHA extensions (or SSSE3 / SSE4.1): only the portable path "
             "runs here");
#else
        SKIP("not an x86 build: only the portable path exists");
#endif
    }
    us_sha256_init_portable(&probe);
    CHECK_EQ_INT(probe.hw, 0);

    /* Lengths 0..300 cover every padding case around one to five blocks; the large ones run
     * long multi-block calls with a tail. Data starts at a random (mostly unaligned) offset. */
    enum { MAXLEN = (1 << 20) + 17, SLACK = 4096 };
    uint8_t *buf = malloc(MAXLEN + SLACK);
    REQUIRE(buf);
    us_rng rng;
    us_rng_seed(&rng, 2024, 256);
    for (size_t i = 0; i < (size_t)MAXLEN + SLACK; i++) buf[i] = (uint8_t)us_rng_u32(&rng);
    size_t lengths[301 + 4];
    size_t nlen = 0;
    for (size_t n = 0; n <= 300; n++) lengths[nlen++] = n;
    lengths[nlen++] = 4095;
    lengths[nlen++] = 65536 + 1;
    lengths[nlen++] = 3 * 65536 + 64;
    lengths[nlen++] = MAXLEN;

    int bad = 0;
    for (size_t i = 0; i < nlen && bad < 5; i++) {
        size_t n = lengths[i];
        const uint8_t *src = buf + us_rng_bounded(&rng, SLACK);
        uint8_t dh[32], dp[32];
        int hw = hash_in_random_pieces(us_sha256_init, src, n, &rng, dh);
        int pw = hash_in_random_pieces(us_sha256_init_portable, src, n, &rng, dp);
        CHECK(hw == 1 && pw == 0);
        if (memcmp(dh, dp, 32) != 0) {
            char hh[65], hp[65];
            us_sha256_hex(dh, hh);
            us_sha256_hex(dp, hp);
            us_test_fail(t_, __FILE__, __LINE__, "length %zu: hardware %s, portable %s", n,
                         hh, hp);
            bad++;
        }
    }
    free(buf);
}
