/* test_utf8.c — strict UTF-8 validation (each invalid class with its offset, the ASCII fast
 * path at every alignment, and an exhaustive comparison with a naive reference checker) and
 * us_utf8_put round trips over every code point. */
#include <string.h>

#include "core/core.h"
#include "tests/test.h"

#define CHECK_UTF8(lit, want) CHECK_EQ_INT(us_utf8_check(lit, sizeof(lit) - 1), want)

TEST(utf8_valid_text) {
    CHECK_UTF8("", -1);
    CHECK_UTF8("plain ascii, long enough for the word-at-a-time path", -1);
    CHECK_UTF8("h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
               "\xf0\x9f\x8e\x89",
               -1);
    /* Boundaries of each length and around the surrogates. */
    CHECK_UTF8("\x7f", -1);
    CHECK_UTF8("\xc2\x80", -1);                 /* U+0080 */
    CHECK_UTF8("\xdf\xbf", -1);                 /* U+07FF */
    CHECK_UTF8("\xe0\xa0\x80", -1);             /* U+0800 */
    CHECK_UTF8("\xed\x9f\xbf", -1);             /* U+D7FF */
    CHECK_UTF8("\xee\x80\x80", -1);             /* U+E000 */
    CHECK_UTF8("\xef\xbf\xbf", -1);             /* U+FFFF */
    CHECK_UTF8("\xf0\x90\x80\x80", -1);         /* U+10000 */
    CHECK_UTF8("\xf4\x8f\xbf\xbf", -1);         /* U+10FFFF */
    CHECK_EQ_INT(us_utf8_check("a\0b", 3), -1); /* NUL is a valid character */
    CHECK_EQ_INT(us_utf8_check(NULL, 0), -1);
}

TEST(utf8_invalid_classes_with_offsets) {
    /* Stray continuation bytes. */
    CHECK_UTF8("ab\x80", 2);
    CHECK_UTF8("\xbf", 0);
    CHECK_UTF8("\xc3\xa9\xa9", 2);
    /* Overlong forms. */
    CHECK_UTF8("\xc0\xaf", 0);
    CHECK_UTF8("x\xc1\xbf", 1);
    CHECK_UTF8("xy\xe0\x80\xaf", 2);
    CHECK_UTF8("\xe0\x9f\xbf", 0);
    CHECK_UTF8("\xf0\x8f\xbf\xbf", 0);
    CHECK_UTF8("\xf0\x80\x80\xaf", 0);
    /* Surrogates D800..DFFF. */
    CHECK_UTF8("ok\xed\xa0\x80", 2);
    CHECK_UTF8("\xed\xbf\xbf", 0);
    /* Past U+10FFFF, and bytes that never appear. */
    CHECK_UTF8("\xf4\x90\x80\x80", 0);
    CHECK_UTF8("abc\xf5\x80\x80\x80", 3);
    CHECK_UTF8("\xf8\x88\x80\x80\x80", 0);
    CHECK_UTF8("\xfe", 0);
    CHECK_UTF8("\xff", 0);
    /* Truncated sequences, at the end and followed by something else. */
    CHECK_UTF8("abc\xe6\x97", 3);
    CHECK_UTF8("\xf0\x9f\x8e", 0);
    CHECK_UTF8("\xc3", 0);
    CHECK_UTF8("\xe6\x41\xa5", 0);
    CHECK_UTF8("\xc3 x", 0);
    CHECK_UTF8("\xf0\x9f\x8e\x41", 0);
    /* The first bad sequence wins. */
    CHECK_UTF8("\xc3\xa9\xc0\xaf\xff", 2);

    /* After ASCII runs of every length (every alignment of the 8-byte fast path), and with a
     * valid multi-byte character in between. */
    char buf[64];
    for (int k = 0; k < 40; k++) {
        memset(buf, 'a', (size_t)k);
        memcpy(buf + k, "\xe2\x82\xac", 3); /* U+20AC */
        memset(buf + k + 3, 'b', 9);
        buf[k + 12] = (char)0x80;
        memset(buf + k + 13, 'c', 10);
        CHECK_EQ_INT(us_utf8_check(buf, (size_t)k + 12), -1);
        CHECK_EQ_INT(us_utf8_check(buf, (size_t)k + 23), k + 12);
        CHECK_EQ_INT(us_utf8_check(buf, (size_t)k + 2), k); /* the euro sign cut short */
    }
}

/* A naive reference: decode by bit pattern, then accept only if re-encoding the code point
 * gives back the same bytes (which rules out overlongs, surrogates and > U+10FFFF). */
static long ref_check(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n) return (long)i;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return (long)i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        char enc[4];
        if (us_utf8_put(enc, cp) != (int)len || memcmp(enc, s + i, len) != 0) return (long)i;
        i += len;
    }
    return -1;
}

TEST(utf8_exhaustive_against_reference) {
    unsigned char b[4];
    long bad = 0;
    /* Every 1- and 2-byte string, and every 3-byte string starting with a non-ASCII byte. */
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (unsigned char)x;
        bad += us_utf8_check((char *)b, 1) != ref_check(b, 1);
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (unsigned char)y;
            bad += us_utf8_check((char *)b, 2) != ref_check(b, 2);
            if (x < 0x80) continue;
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (unsigned char)z;
                bad += us_utf8_check((char *)b, 3) != ref_check(b, 3);
            }
        }
    }
    /* 4-byte leads with every second byte and edge values for the rest. */
    const unsigned char tail[] = {0x00, 0x41, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned x = 0xf0; x < 0x100; x++)
        for (unsigned y = 0; y < 256; y++)
            for (size_t i = 0; i < sizeof tail; i++)
                for (size_t j = 0; j < sizeof tail; j++) {
                    b[0] = (unsigned char)x;
                    b[1] = (unsigned char)y;
                    b[2] = tail[i];
                    b[3] = tail[j];
                    bad += us_utf8_check((char *)b, 4) != ref_check(b, 4);
                }
    CHECK_EQ_INT(bad, 0);
}

TEST(utf8_put_round_trip) {
    char out[8];
    long bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        int n = us_utf8_put(out, cp);
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            bad += n != 0;
            continue;
        }
        int want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (n != want || us_utf8_check(out, (size_t)n) != -1) {
            bad++;
            continue;
        }
        /* Decode back. */
        const unsigned char *u = (const unsigned char *)out;
        uint32_t back = n == 1 ? u[0] : n == 2 ? (u[0] & 0x1fu) : n == 3 ? (u[0] & 0x0fu)
                                                                         : (u[0] & 0x07u);
        for (int k = 1; k < n; k++) back = back << 6 | (u[k] & 0x3fu);
        bad += back != cp;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(us_utf8_put(out, 0x110000), 0);
    CHECK_EQ_INT(us_utf8_put(out, 0xFFFFFFFF), 0);
    CHECK_EQ_INT(us_utf8_put(out, 0xD800), 0);
    CHECK_EQ_INT(us_utf8_put(out, 0x20AC), 3);
    CHECK(memcmp(out, "\xe2\x82\xac", 3) == 0);
}
