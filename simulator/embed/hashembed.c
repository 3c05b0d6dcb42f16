/* hashembed.c — "hashed-ngram-v1", the embedder used when no sentence encoder is installed:
 * the hashing trick (signed feature hashing, Weinberger et al. 2009) over the words of a text
 * and the character 3- to 5-grams of each word (fastText's subword units, with '<' and '>'
 * marking the word's start and end), L2-normalized.
 *
 * It knows no meaning: texts are close when they share words or pieces of words ("sound" and
 * "sounds", "deliver" and "delivery"), not when they are paraphrases ("excellent audio" and
 * "great sound"). It is exact and fixed: the same text gives the same bits on every machine,
 * forever under this name. Any change to the features, seeds or weights needs a new name.
 */
#include <math.h>
#include <string.h>

#include "simulator/embed/bert.h"

#define HE_WORD_SEED 0x68617368776f7264ull  /* "hashword" */
#define HE_NGRAM_SEED 0x686173686e6772ull   /* "hashngr" */
#define HE_NGRAM_WEIGHT 0.5                 /* a word counts 1, each of its n-grams 1/2 */
#define HE_MAX_WORD 256                     /* bytes of a word kept (cut at a code point) */

/* Adds ±weight at the feature's slot: slot = h mod dim, sign = the top bit of h. */
static void add_feature(double *acc, int dim, const char *s, size_t n, uint64_t seed,
                        double weight) {
    uint64_t h = us_hash64(s, n, seed);
    acc[h % (uint64_t)dim] += (h >> 63) ? -weight : weight;
}

static int is_word_byte(unsigned char c) {
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* The features of one word w[0..n) (lower-cased, n <= HE_MAX_WORD): the word, then every n-gram
 * of 3, 4 and 5 code points of "<w>". */
static void word_features(double *acc, int dim, const char *w, size_t n) {
    add_feature(acc, dim, w, n, HE_WORD_SEED, 1.0);
    char pad[HE_MAX_WORD + 2];
    pad[0] = '<';
    memcpy(pad + 1, w, n);
    pad[n + 1] = '>';
    size_t plen = n + 2;
    /* starts[k] = byte offset of code point k of pad; starts[ncp] = plen. A code point begins
     * at every byte that is not a UTF-8 continuation byte (10xxxxxx). */
    size_t starts[HE_MAX_WORD + 3];
    size_t ncp = 0;
    for (size_t i = 0; i < plen; i++)
        if (((unsigned char)pad[i] & 0xC0) != 0x80) starts[ncp++] = i;
    starts[ncp] = plen;
    for (size_t g = 3; g <= 5; g++)
        for (size_t k = 0; k + g <= ncp; k++)
            add_feature(acc, dim, pad + starts[k], starts[k + g] - starts[k], HE_NGRAM_SEED,
                        HE_NGRAM_WEIGHT);
}

void us_hashembed(float *out, const char *text, size_t len, int dim) {
    US_ASSERT(dim >= 1 && dim <= US_HASHEMBED_MAX_DIM && (text || len == 0));
    double a[US_HASHEMBED_MAX_DIM]; /* the signed sums, in double (32 KiB of stack) */
    memset(a, 0, (size_t)dim * sizeof(double));
    char word[HE_MAX_WORD];
    size_t i = 0;
    while (i < len) {
        if (!is_word_byte((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t n = 0;
        int cut = 0;
        for (; i < len && is_word_byte((unsigned char)text[i]); i++) {
            if (n == HE_MAX_WORD) { /* the rest of a very long word is skipped */
                cut = 1;
                continue;
            }
            char c = text[i];
            word[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        /* A cut word also drops its last non-ASCII code point, which the cut may have split. */
        if (cut) {
            while (n > 0 && ((unsigned char)word[n - 1] & 0xC0) == 0x80) n--;
            if (n > 0 && (unsigned char)word[n - 1] >= 0xC0) n--;
        }
        if (n > 0) word_features(a, dim, word, n);
    }
    double ss = 0.0;
    for (int d = 0; d < dim; d++) ss += a[d] * a[d];
    double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
    for (int d = 0; d < dim; d++) out[d] = (float)(a[d] * inv);
}
