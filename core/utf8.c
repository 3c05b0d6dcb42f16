/* utf8.c — strict UTF-8 validation (Unicode 15, table 3-7 "well-formed UTF-8 byte
 * sequences") and encoding of one code point.
 *
 * The checker rejects overlong forms, surrogates (U+D800..U+DFFF), code points past U+10FFFF,
 * truncated sequences and stray continuation bytes, and reports the offset of the first byte
 * of the first bad sequence. Runs of ASCII are skipped 8 bytes at a time. It does not repair,
 * normalize or decode into code points. */
#include <string.h>

#include "core/core.h"

/* The high bit of each of 8 bytes: a word of pure ASCII has none of them set. */
#define HIGH_BITS 0x8080808080808080ULL

static inline int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

long us_utf8_check(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path: skip whole 8-byte words with no high bit. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & HIGH_BITS) break;
            i += 8;
        }
        if (i >= n) break;
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* Well-formed sequences (the second byte's range depends on the lead byte):
         *   C2..DF 80..BF                    U+0080..U+07FF   (C0, C1 would be overlong)
         *   E0     A0..BF 80..BF             U+0800..U+0FFF   (E0 80..9F: overlong)
         *   E1..EC 80..BF 80..BF
         *   ED     80..9F 80..BF             (ED A0..BF: surrogates D800..DFFF)
         *   EE..EF 80..BF 80..BF
         *   F0     90..BF 80..BF 80..BF      U+10000..        (F0 80..8F: overlong)
         *   F1..F3 80..BF 80..BF 80..BF
         *   F4     80..8F 80..BF 80..BF      ..U+10FFFF       (F4 90..: too large)
         * Anything else, including 80..BF as a lead and F5..FF, is invalid. */
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c < 0xC2) {
            return (long)i;
        } else if (c < 0xE0) {
            len = 2;
        } else if (c < 0xF0) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c < 0xF5) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return (long)i;
        }
        if (n - i < len) return (long)i; /* truncated at the end of the input */
        if (p[i + 1] < lo || p[i + 1] > hi) return (long)i;
        for (size_t k = 2; k < len; k++)
            if (!is_cont(p[i + k])) return (long)i;
        i += len;
    }
    return -1;
}

int us_utf8_put(char *out, uint32_t cp) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) { /* 110xxxxx 10xxxxxx */
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0; /* surrogates are not characters */
    if (cp < 0x10000) { /* 1110xxxx 10xxxxxx 10xxxxxx */
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) { /* 11110xxx 10xxxxxx 10xxxxxx 10xxxxxx */
        o[0] = (unsigned char)(0xF0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}
