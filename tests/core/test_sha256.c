/* test_sha256.c — SHA-256 (libcrypto underneath) against the FIPS 180-4 example vectors (NIST
 * "SHA256.pdf" examples and the long-message vector of FIPS 180-2 appendix B.3), padding
 * boundaries, incremental updates in odd-sized pieces against the one-shot digest, and copies
 * of a running hash that go on independently. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "tests/test.h"

static const char *digest_hex(const void *data, size_t n, char hex[65]) {
    uint8_t d[32];
    if (us_sha256_digest(data, n, d, NULL) != US_OK) return "no digest";
    us_sha256_hex(d, hex);
    return hex;
}

TEST(sha256_fips_vectors) {
    char hex[65];
    CHECK_STR(digest_hex("", 0, hex),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(digest_hex("abc", 3, hex),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* The 448-bit (56-byte) message: padding needs a second block. */
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_EQ_INT(strlen(m448), 56);
    CHECK_STR(digest_hex(m448, 56, hex),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* The 896-bit (112-byte) message. */
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                       "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK_EQ_INT(strlen(m896), 112);
    CHECK_STR(digest_hex(m896, 112, hex),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* One million 'a', fed in 1000-byte updates. */
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    us_sha256 s;
    uint8_t d[32];
    REQUIRE(us_sha256_init(&s, NULL) == US_OK);
    for (int i = 0; i < 1000; i++) us_sha256_update(&s, chunk, sizeof chunk);
    us_sha256_final(&s, d);
    CHECK(s.ctx == NULL);
    us_sha256_hex(d, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* The same million bytes in one call. */
    char *big = malloc(1000000);
    REQUIRE(big);
    memset(big, 'a', 1000000);
    CHECK_STR(digest_hex(big, 1000000, hex),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(big);
}

TEST(sha256_padding_boundaries) {
    /* 55 bytes: the length fits in the same block; 56: it does not; 64: a whole block.
     * Values from Python's hashlib.sha256(b"a" * n). */
    char a[64], hex[65];
    memset(a, 'a', sizeof a);
    CHECK_STR(digest_hex(a, 55, hex),
              "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    CHECK_STR(digest_hex(a, 56, hex),
              "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    CHECK_STR(digest_hex(a, 64, hex),
              "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(sha256_odd_pieces_match_one_shot) {
    /* 1000 bytes (7 i + 3) mod 256: hashlib.sha256(bytes((i*7+3) & 255 for i in
     * range(1000))). */
    enum { N = 1000 };
    unsigned char data[N + 1];
    for (int i = 0; i < N; i++) data[i] = (unsigned char)((i * 7 + 3) & 255);
    char one[65], hex[65];
    digest_hex(data, N, one);
    CHECK_STR(one, "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371");

    /* Every piece size 1..130, and a mixed pattern of sizes, from an unaligned buffer. */
    memmove(data + 1, data, N);
    const unsigned char *src = data + 1;
    for (size_t piece = 1; piece <= 130; piece++) {
        us_sha256 s;
        uint8_t d[32];
        REQUIRE(us_sha256_init(&s, NULL) == US_OK);
        for (size_t off = 0; off < N; off += piece)
            us_sha256_update(&s, src + off, off + piece <= N ? piece : N - off);
        us_sha256_final(&s, d);
        us_sha256_hex(d, hex);
        CHECK_STR(hex, one);
    }
    const size_t pattern[] = {0, 1, 63, 2, 64, 65, 127, 5, 0, 200, 3};
    us_sha256 s;
    uint8_t d[32];
    REQUIRE(us_sha256_init(&s, NULL) == US_OK);
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

TEST(sha256_copy_goes_on_independently) {
    /* A copy finished half-way gives the digest of the first half; the original, fed the rest,
     * still gives the digest of the whole ("abc" then the 448-bit message's tail). */
    us_sha256 s, half;
    uint8_t d[32];
    char hex[65];
    REQUIRE(us_sha256_init(&s, NULL) == US_OK);
    us_sha256_update(&s, "ab", 2);
    REQUIRE(us_sha256_copy(&half, &s, NULL) == US_OK);
    us_sha256_update(&half, "c", 1);
    us_sha256_final(&half, d);
    us_sha256_hex(d, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    us_sha256_update(&s, "cdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 54);
    us_sha256_final(&s, d);
    us_sha256_hex(d, hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(sha256_free_is_safe) {
    /* An unfinished hash released, then released again; a finished one released; NULL. Under
     * the sanitizer build, a leak or a double free here fails the run. */
    us_sha256 s;
    REQUIRE(us_sha256_init(&s, NULL) == US_OK);
    us_sha256_update(&s, "abc", 3);
    us_sha256_free(&s);
    CHECK(s.ctx == NULL);
    us_sha256_free(&s);
    uint8_t d[32];
    REQUIRE(us_sha256_init(&s, NULL) == US_OK);
    us_sha256_final(&s, d);
    us_sha256_free(&s);
    us_sha256_free(NULL);
}
