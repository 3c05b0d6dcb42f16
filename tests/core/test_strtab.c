/* test_strtab.c — string interning (dense ids, re-interning, find, NUL bytes, empty strings,
 * pointer stability across growth) and us_hash64 (determinism, seeds, lengths, avalanche). */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "tests/test.h"

TEST(strtab_dense_ids_and_reintern) {
    us_strtab *t;
    REQUIRE(us_strtab_init(&t) == US_OK);
    CHECK_EQ_INT(us_strtab_count(t), 0);
    size_t bytes0 = us_strtab_bytes(t);

    /* The first string's pointer must survive every table growth and new chunk below. */
    uint32_t id;
    int is_new = -1;
    CHECK(us_strtab_intern(t, "str-0", 5, &id, &is_new) == US_OK);
    CHECK_EQ_INT(id, 0);
    CHECK_EQ_INT(is_new, 1);
    const char *first = us_strtab_get(t, 0, NULL);
    REQUIRE(first);

    enum { N = 200000 };
    char buf[32];
    for (uint32_t i = 1; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "str-%u", i);
        is_new = -1;
        CHECK(us_strtab_intern(t, buf, (size_t)n, &id, &is_new) == US_OK);
        if (id != i || is_new != 1) {
            CHECK_EQ_INT(id, i);
            CHECK_EQ_INT(is_new, 1);
            break;
        }
    }
    CHECK_EQ_INT(us_strtab_count(t), N);
    CHECK(us_strtab_get(t, 0, NULL) == first);
    CHECK_STR(first, "str-0");
    CHECK(us_strtab_bytes(t) > bytes0);

    /* Re-interning gives the same id and is_new = 0; get returns the text and length. */
    int bad = 0;
    for (uint32_t i = 0; i < N; i += 7) {
        int n = snprintf(buf, sizeof buf, "str-%u", i);
        is_new = -1;
        id = UINT32_MAX;
        CHECK(us_strtab_intern(t, buf, (size_t)n, &id, &is_new) == US_OK);
        size_t len = 0;
        const char *s = us_strtab_get(t, i, &len);
        bad += id != i || is_new != 0 || !s || len != (size_t)n || strcmp(s, buf) != 0;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(us_strtab_count(t), N);

    /* find: present, absent (and never added), prefixes and extensions. */
    CHECK(us_strtab_find(t, "str-123", 7, &id));
    CHECK_EQ_INT(id, 123);
    CHECK(!us_strtab_find(t, "str-200000", 10, &id));
    CHECK(us_strtab_find(t, "str-12", 5, &id) && id == 1); /* the 5-byte prefix "str-1" */
    CHECK(!us_strtab_find(t, "str-1234567", 11, NULL));
    CHECK(!us_strtab_find(t, "", 0, NULL));
    CHECK_EQ_INT(us_strtab_count(t), N);

    /* Out-of-range ids give NULL. */
    size_t len = 99;
    CHECK(us_strtab_get(t, N, &len) == NULL);
    CHECK_EQ_INT(len, 0);
    us_strtab_free(t);
    us_strtab_free(NULL);
}

TEST(strtab_nul_bytes_and_empty) {
    us_strtab *t;
    REQUIRE(us_strtab_init(&t) == US_OK);
    uint32_t a, b, c, d, e, again;
    int is_new;
    CHECK(us_strtab_intern(t, "a\0b", 3, &a, &is_new) == US_OK && is_new);
    CHECK(us_strtab_intern(t, "a\0c", 3, &b, &is_new) == US_OK && is_new);
    CHECK(us_strtab_intern(t, "a", 1, &c, &is_new) == US_OK && is_new);
    CHECK(us_strtab_intern(t, "", 0, &d, &is_new) == US_OK && is_new);
    CHECK(us_strtab_intern(t, "\0", 1, &e, &is_new) == US_OK && is_new);
    CHECK(us_strtab_intern(t, NULL, 0, &again, &is_new) == US_OK);
    CHECK_EQ_INT(again, d);
    CHECK_EQ_INT(is_new, 0);
    CHECK_EQ_INT(a, 0);
    CHECK_EQ_INT(b, 1);
    CHECK_EQ_INT(c, 2);
    CHECK_EQ_INT(d, 3);
    CHECK_EQ_INT(e, 4);
    size_t len;
    const char *s = us_strtab_get(t, a, &len);
    CHECK(len == 3 && memcmp(s, "a\0b", 4) == 0); /* the stored copy is NUL-terminated too */
    s = us_strtab_get(t, d, &len);
    CHECK(len == 0 && s && s[0] == '\0');
    s = us_strtab_get(t, e, &len);
    CHECK(len == 1 && s[0] == '\0' && s[1] == '\0');
    CHECK(us_strtab_find(t, "a\0c", 3, &again) && again == b);
    CHECK(us_strtab_find(t, "", 0, &again) && again == d);
    CHECK(!us_strtab_find(t, "a\0d", 3, &again));
    CHECK(!us_strtab_find(t, "\0\0", 2, &again));
    CHECK(us_strtab_intern(t, "a\0b", 3, &again, NULL) == US_OK && again == a);
    CHECK_EQ_INT(us_strtab_count(t), 5);
    us_strtab_free(t);
}

TEST(strtab_big_strings_keep_pointers) {
    /* Strings past a quarter chunk get chunks of their own; strings bigger than a chunk work;
     * small strings interleaved with them keep their pointers and bytes. */
    us_strtab *t;
    REQUIRE(us_strtab_init(&t) == US_OK);
    size_t big = (3u << 20) + 5; /* 3 MiB + 5 */
    char *s = malloc(big);
    REQUIRE(s);
    const char *ptrs[40];
    size_t lens[40];
    for (int i = 0; i < 40; i++) {
        lens[i] = i % 4 == 3 ? big - (size_t)i : (size_t)(10 + i * 1000);
        for (size_t k = 0; k < lens[i]; k++) s[k] = (char)('a' + (k * 7 + (size_t)i) % 26);
        uint32_t id;
        int is_new;
        CHECK(us_strtab_intern(t, s, lens[i], &id, &is_new) == US_OK);
        CHECK_EQ_INT(id, i);
        CHECK_EQ_INT(is_new, 1);
        ptrs[i] = us_strtab_get(t, id, NULL);
    }
    for (int i = 0; i < 40; i++) {
        size_t len;
        const char *p = us_strtab_get(t, (uint32_t)i, &len);
        CHECK(p == ptrs[i]);
        CHECK(len == lens[i]);
        int ok = p[len] == '\0';
        for (size_t k = 0; k < len && ok; k++) ok = p[k] == (char)('a' + (k * 7 + (size_t)i) % 26);
        CHECK(ok);
    }
    CHECK(us_strtab_bytes(t) > 10 * big);
    free(s);
    us_strtab_free(t);
}

TEST(strtab_hash64_properties) {
    const char *text = "the quick brown fox jumps over the lazy dog, again and again";
    size_t n = strlen(text);
    /* Pinned values (recorded from this implementation on x86-64): the hash reads bytes in
     * little-endian order on every machine, so these must hold everywhere, and a change to
     * the function shows up here first. */
    CHECK_EQ_U64(us_hash64("", 0, 0), 0x7709223390abd40bULL);
    CHECK_EQ_U64(us_hash64("a", 1, 0), 0x98c13c6fbfb85273ULL);
    CHECK_EQ_U64(us_hash64("abc", 3, 0), 0x5a394e52c16d328bULL);
    CHECK_EQ_U64(us_hash64("abc", 3, 1), 0x59539c343fa0d84dULL);
    CHECK_EQ_U64(us_hash64("usersim", 7, 0), 0x68b195f68341abcdULL);
    CHECK_EQ_U64(us_hash64("B00005N7P0", 10, 0), 0x66e6434a6408b91bULL);
    CHECK_EQ_U64(us_hash64("A3SGXH7AUHU8GW", 14, 0), 0xe0ad666d46866828ULL);
    CHECK_EQ_U64(us_hash64("the quick brown fox jumps over the lazy dog", 43, 0),
                 0x2ce31c280c4f2adeULL);
    /* Deterministic; seeds matter. */
    CHECK_EQ_U64(us_hash64(text, n, 1), us_hash64(text, n, 1));
    CHECK(us_hash64(text, n, 1) != us_hash64(text, n, 2));
    /* Independent of the buffer's alignment. */
    char copy[128];
    for (int off = 0; off < 8; off++) {
        memcpy(copy + off, text, n);
        CHECK_EQ_U64(us_hash64(copy + off, n, 7), us_hash64(text, n, 7));
    }
    /* Every prefix length of the text and of an all-zero buffer hashes differently (length
     * is part of the hash; the overlapping tail reads never alias two lengths). */
    enum { L = 100 };
    static uint64_t h[2 * (L + 1)];
    static const char zeros[L];
    size_t m = 0;
    for (size_t len = 0; len <= L && len <= n; len++) h[m++] = us_hash64(text, len, 0);
    for (size_t len = 1; len <= L; len++) h[m++] = us_hash64(zeros, len, 0); /* "" is above */
    int dup = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = i + 1; j < m; j++) dup += h[i] == h[j];
    CHECK_EQ_INT(dup, 0);

    /* Avalanche: flipping one input bit flips about half of the 64 output bits, for inputs
     * that take each code path (short, 4-7, 8-16, 17-32, long). */
    const size_t lens[] = {1, 3, 5, 8, 13, 16, 17, 31, 32, 33, 64, 100};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t len = lens[li];
        unsigned char in[100];
        for (size_t k = 0; k < len; k++) in[k] = (unsigned char)(k * 37 + 11);
        uint64_t base = us_hash64(in, len, 42);
        long flips = 0, worst_lo = 64, worst_hi = 0;
        for (size_t bit = 0; bit < 8 * len; bit++) {
            in[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            int c = __builtin_popcountll(base ^ us_hash64(in, len, 42));
            in[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            flips += c;
            if (c < worst_lo) worst_lo = c;
            if (c > worst_hi) worst_hi = c;
        }
        double avg = (double)flips / (double)(8 * len);
        CHECK_NEAR(avg, 32.0, 3.0);
        CHECK(worst_lo >= 12 && worst_hi <= 52);
    }

    /* The low bits (the table index) of 200k similar keys spread evenly over 1024 buckets. */
    static long bucket[1024];
    memset(bucket, 0, sizeof bucket);
    char key[32];
    const int nk = 200000;
    for (int i = 0; i < nk; i++) {
        int kl = snprintf(key, sizeof key, "user%08d", i);
        bucket[us_hash64(key, (size_t)kl, 0) & 1023]++;
    }
    double expect = nk / 1024.0, chi2 = 0;
    for (int b = 0; b < 1024; b++) chi2 += (bucket[b] - expect) * (bucket[b] - expect) / expect;
    /* 1023 degrees of freedom: mean 1023, sd 45; 1300 is > 6 sd out. */
    CHECK(chi2 < 1300.0);
}
