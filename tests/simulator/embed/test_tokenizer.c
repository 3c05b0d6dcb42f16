/* test_tokenizer.c — the BERT WordPiece tokenizer (simulator/embed/tokenizer.c).
 *
 * Two vocabularies: tests/fixtures/tokenizer/mini_vocab.txt (44 hand-written tokens, always
 * there), for which every expected id below was worked out by hand; and the real
 * all-MiniLM-L6-v2 vocab.txt in models/ (made by `make models`), against which every line of
 * tests/fixtures/tokenizer/tokens.tsv (ids from the reference `tokenizers` package, written by
 * make_tokens.py beside it) must agree token for token. Without models/ that one case skips.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "simulator/embed/tokenizer.h"
#include "tests/test.h"

#define MINI_VOCAB "tests/fixtures/tokenizer/mini_vocab.txt"
#define MODEL_VOCAB "models/all-MiniLM-L6-v2/vocab.txt"
#define TOKENS_TSV "tests/fixtures/tokenizer/tokens.tsv"

/* Ids in mini_vocab.txt (line - 1). */
enum {
    PAD = 0, UNK = 1, CLS = 2, SEP = 3, MASK = 4, UN = 5, H_AFF = 6, H_ABLE = 7, AFF = 8,
    AFFABLE = 9, H_A = 10, H_B = 11, A = 12, B = 13, THE = 14, CAT = 15, H_S = 16, PLAY = 17,
    H_ING = 18, H_IN = 19, H_G = 20, BANG = 21, DOT = 22, COMMA = 23, APOS = 24, CAFE = 25,
    NAIVE = 26, HELLO = 27, WORLD = 28, X = 29, H_X = 30, AB = 31, H_AB = 32, ZHONG = 33,
    WEN = 34, SIGMA = 35, H_SIGMA = 36, HASHHASH = 37, HASH = 38, I = 39, H_I = 40, LBR = 41,
    RBR = 42, MASKWORD = 43,
};

static us_tokenizer *open_mini(us_test_ctx *t_, const us_tokenizer_config *cfg) {
    us_tokenizer *tok = NULL;
    us_err err;
    us_err_clear(&err);
    CHECK_OK(us_tokenizer_open(&tok, MINI_VOCAB, cfg, &err), err);
    return tok;
}

/* Encodes text (NUL-terminated) into arrays of max_len and checks ids[0..n) against want[] (a
 * list ending in -1), the padding after it and the mask. Reports the text on failure. */
static void expect_ids(us_test_ctx *t_, int line, const us_tokenizer *tok, const char *text,
                       size_t len, int max_len, const int *want) {
    int32_t ids[512];
    uint8_t mask[512];
    US_ASSERT(max_len <= 512);
    int nwant = 0;
    while (want[nwant] >= 0) nwant++;
    int n = us_tokenizer_encode(tok, text, len, ids, mask, max_len);
    int bad = n != nwant;
    for (int i = 0; !bad && i < n; i++) bad = ids[i] != want[i];
    for (int i = 0; i < max_len; i++) {
        if (i >= n && ids[i] != PAD) bad = 1;
        if (mask[i] != (i < n)) bad = 1;
    }
    if (bad) {
        char got[2048] = "", exp[2048] = "";
        for (int i = 0; i < n && strlen(got) < sizeof got - 16; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d", ids[i]);
        for (int i = 0; i < nwant && strlen(exp) < sizeof exp - 16; i++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), " %d", want[i]);
        us_test_fail(t_, __FILE__, line, "\"%.60s\" (max_len %d): got%s, want%s", text,
                     max_len, got, exp);
    }
}

#define EXPECT(tok, text, max_len, ...)                                                    \
    expect_ids(t_, __LINE__, (tok), (text), strlen(text), (max_len),                      \
               (const int[]){__VA_ARGS__, -1})

/* ------------------------------------------------------------------------------------------
 * WordPiece on the mini vocabulary
 * ---------------------------------------------------------------------------------------- */

TEST(tokenizer_mini_vocab_opens) {
    us_tokenizer *tok = open_mini(t_, NULL);
    REQUIRE(tok);
    CHECK_EQ_INT(us_tokenizer_vocab_size(tok), 44);
    CHECK_EQ_INT(us_tokenizer_id(tok, "[CLS]"), CLS);
    CHECK_EQ_INT(us_tokenizer_id(tok, "##ing"), H_ING);
    CHECK_EQ_INT(us_tokenizer_id(tok, "mask"), MASKWORD);
    CHECK_EQ_INT(us_tokenizer_id(tok, "ing"), -1);
    CHECK_EQ_INT(us_tokenizer_id(tok, ""), -1);
    CHECK_STR(us_tokenizer_token(tok, 0), "[PAD]");
    CHECK_STR(us_tokenizer_token(tok, H_SIGMA), "##σ");
    CHECK(us_tokenizer_token(tok, 44) == NULL);
    CHECK(us_tokenizer_token(tok, -1) == NULL);
    CHECK_EQ_INT(us_tokenizer_config_of(tok)->max_len, 256);
    CHECK_EQ_INT(us_tokenizer_config_of(tok)->strip_accents, 1); /* AUTO follows lowercase */
    us_tokenizer_close(tok);
    us_tokenizer_close(NULL);
}

TEST(tokenizer_wordpiece_greedy_longest_match) {
    us_tokenizer *tok = open_mini(t_, NULL);
    REQUIRE(tok);
    /* "affable" is a word but "##affable" is not a continuation: un ##aff ##able. */
    EXPECT(tok, "unaffable", 16, CLS, UN, H_AFF, H_ABLE, SEP);
    EXPECT(tok, "affable", 16, CLS, AFFABLE, SEP);
    EXPECT(tok, "aff", 16, CLS, AFF, SEP);
    /* The longest continuation wins: ##ing over ##in ##g. */
    EXPECT(tok, "playing", 16, CLS, PLAY, H_ING, SEP);
    EXPECT(tok, "playin", 16, CLS, PLAY, H_IN, SEP);
    EXPECT(tok, "playingg", 16, CLS, PLAY, H_ING, H_G, SEP);
    EXPECT(tok, "plays cats", 16, CLS, PLAY, H_S, CAT, H_S, SEP);
    EXPECT(tok, "abab ab", 16, CLS, AB, H_AB, AB, SEP);
    EXPECT(tok, "aba", 16, CLS, AB, H_A, SEP);
    EXPECT(tok, "xxx", 16, CLS, X, H_X, H_X, SEP);
    us_tokenizer_close(tok);
}

TEST(tokenizer_wordpiece_unk) {
    us_tokenizer *tok = open_mini(t_, NULL);
    REQUIRE(tok);
    /* No cover at all, and a cover that fails halfway: the whole word is one [UNK]. */
    EXPECT(tok, "dog", 16, CLS, UNK, SEP);
    EXPECT(tok, "catz", 16, CLS, UNK, SEP);
    EXPECT(tok, "the catz cat", 16, CLS, THE, UNK, CAT, SEP);
    EXPECT(tok, "unaffablez!", 16, CLS, UNK, BANG, SEP);
    /* 100 characters are looked up; 101 are [UNK] without a lookup. */
    char word[128];
    memset(word, 'a', 100);
    word[100] = '\0';
    int32_t ids[128];
    int n = us_tokenizer_encode(tok, word, 100, ids, NULL, 128);
    CHECK_EQ_INT(n, 102);
    CHECK_EQ_INT(ids[1], A);
    CHECK_EQ_INT(ids[2], H_A);
    CHECK_EQ_INT(ids[100], H_A);
    CHECK_EQ_INT(ids[101], SEP);
    memset(word, 'a', 101);
    word[101] = '\0';
    EXPECT(tok, word, 8, CLS, UNK, SEP);
    /* The limit counts characters, not bytes: 60 two-byte sigmas are one word of 60. */
    char sig[256] = "";
    for (int i = 0; i < 60; i++) strcat(sig, "Σ");
    n = us_tokenizer_encode(tok, sig, strlen(sig), ids, NULL, 128);
    CHECK_EQ_INT(n, 62);
    CHECK_EQ_INT(ids[1], SIGMA);
    CHECK_EQ_INT(ids[60], H_SIGMA);
    us_tokenizer_close(tok);
}

TEST(tokenizer_basic_normalization) {
    us_tokenizer *tok = open_mini(t_, NULL);
    REQUIRE(tok);
    EXPECT(tok, "The CAT", 16, CLS, THE, CAT, SEP);
    /* NFC and NFD spellings both lose their accents. */
    EXPECT(tok, "Café naïve", 16, CLS, CAFE, NAIVE, SEP);
    EXPECT(tok, "Cafe\xcc\x81 nai\xcc\x88ve", 16, CLS, CAFE, NAIVE, SEP);
    /* Per-character lowercase, as the reference: no final sigma. */
    EXPECT(tok, "ΣΣ σ", 16, CLS, SIGMA, H_SIGMA, SIGMA, SEP);
    /* İ: NFD gives I + U+0307, the mark goes, then i. */
    EXPECT(tok, "\xc4\xb0", 16, CLS, I, SEP);
    /* Punctuation splits off, one character per token; '#' too, so "##" in text is # #. */
    EXPECT(tok, "hello, world!!", 16, CLS, HELLO, COMMA, WORLD, BANG, BANG, SEP);
    EXPECT(tok, "cat's.", 16, CLS, CAT, APOS, UNK, DOT, SEP); /* "s" alone is no token */
    EXPECT(tok, "##ing", 16, CLS, HASH, HASH, UNK, SEP);
    EXPECT(tok, "a##b", 16, CLS, A, HASH, HASH, B, SEP);
    /* Whitespace of every kind separates; controls, format characters and U+FFFD vanish. */
    EXPECT(tok, "the\tcat\nplays\r\nx\xc2\xa0x\xe3\x80\x80x", 16, CLS, THE, CAT, PLAY, H_S, X,
           X, X, SEP);
    EXPECT(tok, "c\x01" "a\x7ft\xc2\xad" "s \xe2\x80\x8b" "x\xef\xbf\xbdx", 16, CLS, CAT, H_S,
           X, H_X, SEP);
    /* CJK ideographs are words of their own. */
    EXPECT(tok, "中文", 16, CLS, ZHONG, WEN, SEP);
    EXPECT(tok, "x中x", 16, CLS, X, ZHONG, X, SEP);
    EXPECT(tok, "", 16, CLS, SEP);
    EXPECT(tok, " \t\n ", 16, CLS, SEP);
    us_tokenizer_close(tok);
}

TEST(tokenizer_config_switches) {
    us_tokenizer_config cfg = us_tokenizer_config_default();
    cfg.tokenize_chinese_chars = 0;
    us_tokenizer *tok = open_mini(t_, &cfg);
    REQUIRE(tok);
    EXPECT(tok, "中文", 16, CLS, UNK, SEP); /* one word: 中 then no "##文" */
    us_tokenizer_close(tok);

    cfg = us_tokenizer_config_default();
    cfg.lowercase = 0; /* strip_accents AUTO now means off */
    tok = open_mini(t_, &cfg);
    REQUIRE(tok);
    CHECK_EQ_INT(us_tokenizer_config_of(tok)->strip_accents, 0);
    EXPECT(tok, "The cat café", 16, CLS, UNK, CAT, UNK, SEP);
    us_tokenizer_close(tok);

    cfg.strip_accents = US_TOKENIZER_ACCENTS_ON;
    tok = open_mini(t_, &cfg);
    REQUIRE(tok);
    EXPECT(tok, "café Cafe", 16, CLS, CAFE, UNK, SEP);
    us_tokenizer_close(tok);

    /* Lowercase without stripping: İ becomes i + U+0307, and "##" + U+0307 is not a token. */
    cfg = us_tokenizer_config_default();
    cfg.strip_accents = US_TOKENIZER_ACCENTS_OFF;
    tok = open_mini(t_, &cfg);
    REQUIRE(tok);
    EXPECT(tok, "\xc4\xb0 CAFE café", 16, CLS, UNK, CAFE, UNK, SEP);
    us_tokenizer_close(tok);

    cfg = us_tokenizer_config_default();
    cfg.match_special = 0;
    tok = open_mini(t_, &cfg);
    REQUIRE(tok);
    EXPECT(tok, "x[MASK]", 16, CLS, X, LBR, MASKWORD, RBR, SEP);
    us_tokenizer_close(tok);
}

TEST(tokenizer_special_tokens_in_text) {
    us_tokenizer *tok = open_mini(t_, NULL);
    REQUIRE(tok);
    /* Literal, case-sensitive, anywhere, and before normalization. */
    EXPECT(tok, "hello[MASK]world", 16, CLS, HELLO, MASK, WORLD, SEP);
    EXPECT(tok, "[CLS] x [SEP]", 16, CLS, CLS, X, SEP, SEP);
    EXPECT(tok, "[[PAD]][UNK]", 16, CLS, LBR, PAD, RBR, UNK, SEP);
    EXPECT(tok, "[mask] [MASK", 16, CLS, LBR, MASKWORD, RBR, LBR, MASKWORD, SEP);
    us_tokenizer_close(tok);
}

TEST(tokenizer_truncation_padding_mask) {
    us_tokenizer *tok = open_mini(t_, NULL);
    REQUIRE(tok);
    EXPECT(tok, "a b", 6, CLS, A, B, SEP);             /* padded: mask 1 1 1 1 0 0 */
    EXPECT(tok, "a b a b a", 4, CLS, A, B, SEP);       /* truncated, still ends in [SEP] */
    EXPECT(tok, "a b", 2, CLS, SEP);                   /* room for nothing else */
    EXPECT(tok, "a b", 4, CLS, A, B, SEP);             /* exactly full */
    EXPECT(tok, "unaffable", 4, CLS, UN, H_AFF, SEP);  /* cut inside a word */
    /* A word that turns out to be [UNK] after its pieces ran past the end is one [UNK]. */
    EXPECT(tok, "unaffablez", 3, CLS, UNK, SEP);
    EXPECT(tok, "a unaffablez", 4, CLS, A, UNK, SEP);
    EXPECT(tok, "a catz", 4, CLS, A, UNK, SEP);
    EXPECT(tok, "a b [SEP] a", 5, CLS, A, B, SEP, SEP);
    EXPECT(tok, "a b[SEP]", 4, CLS, A, B, SEP); /* the word before it filled the output */
    us_tokenizer_close(tok);

    /* The config's max_len caps the tokens; the caller's max_len sizes the padded arrays. */
    us_tokenizer_config cfg = us_tokenizer_config_default();
    cfg.max_len = 4;
    tok = open_mini(t_, &cfg);
    REQUIRE(tok);
    EXPECT(tok, "a b a b", 8, CLS, A, B, SEP);
    us_tokenizer_close(tok);
}

TEST(tokenizer_batch) {
    us_tokenizer *tok = open_mini(t_, NULL);
    REQUIRE(tok);
    const char *texts[4] = {"the cat", NULL, "playing a b a", "x[SEP]zz"};
    size_t lens[4] = {(size_t)-1, 0, 9, (size_t)-1};
    int32_t ids[4 * 6];
    uint8_t mask[4 * 6];
    int counts[4];
    int longest = us_tokenizer_encode_batch(tok, texts, lens, 4, ids, mask, 6, counts);
    CHECK_EQ_INT(longest, 5);
    CHECK_EQ_INT(counts[0], 4);
    CHECK_EQ_INT(counts[1], 2);
    CHECK_EQ_INT(counts[2], 5); /* "playing a": only the first 9 bytes */
    CHECK_EQ_INT(counts[3], 5);
    const int32_t want[4][6] = {{CLS, THE, CAT, SEP, PAD, PAD},
                                {CLS, SEP, PAD, PAD, PAD, PAD},
                                {CLS, PLAY, H_ING, A, SEP, PAD},
                                {CLS, X, SEP, UNK, SEP, PAD}};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 6; c++) {
            CHECK_EQ_INT(ids[r * 6 + c], want[r][c]);
            CHECK_EQ_INT(mask[r * 6 + c], want[r][c] != PAD);
        }
    CHECK_EQ_INT(us_tokenizer_encode_batch(tok, NULL, NULL, 0, NULL, NULL, 6, NULL), 2);
    us_tokenizer_close(tok);
}

TEST(tokenizer_invalid_utf8) {
    us_tokenizer *tok = open_mini(t_, NULL);
    REQUIRE(tok);
    /* Each invalid sequence is one dropped U+FFFD: no word boundary, never a stray '/'. */
    EXPECT(tok, "ca\xfft", 16, CLS, CAT, SEP);
    EXPECT(tok, "a\xc0\xaf" "b", 16, CLS, AB, SEP);     /* overlong '/' */
    EXPECT(tok, "a\xed\xa0\x80" "b", 16, CLS, AB, SEP);  /* surrogate */
    EXPECT(tok, "a\xf4\x90\x80\x80" "b", 16, CLS, AB, SEP); /* past U+10FFFF */
    EXPECT(tok, "a\xe4\xb8" "b", 16, CLS, AB, SEP);      /* cut short */
    EXPECT(tok, "a\x80\x80\x80" "b x\xc3", 16, CLS, AB, X, SEP);
    /* NUL is dropped without a boundary: "catcat" has no cover. */
    expect_ids(t_, __LINE__, tok, "cat\0cat", 7, 8, (const int[]){CLS, UNK, SEP, -1});
    /* Every byte value and a sample of sequences: ids stay in range, [SEP] ends the row. */
    unsigned char buf[4096];
    us_rng rng;
    us_rng_seed(&rng, 7, 11);
    int32_t ids[64];
    uint8_t mask[64];
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + us_rng_bounded(&rng, sizeof buf);
        for (size_t i = 0; i < n; i++) {
            uint32_t r = us_rng_u32(&rng);
            buf[i] = (unsigned char)(r % 4 == 0 ? 0x80 | (r >> 8 & 0x7F) : r >> 8);
        }
        int max_len = 2 + (int)us_rng_bounded(&rng, 63);
        int got = us_tokenizer_encode(tok, (const char *)buf, n, ids, mask, max_len);
        REQUIRE(got >= 2 && got <= max_len);
        CHECK_EQ_INT(ids[0], CLS);
        CHECK_EQ_INT(ids[got - 1], SEP);
        for (int i = 0; i < max_len; i++) {
            REQUIRE(ids[i] >= 0 && ids[i] < 44);
            CHECK_EQ_INT(mask[i], i < got);
        }
    }
    us_tokenizer_close(tok);
}

/* ------------------------------------------------------------------------------------------
 * Bad vocabularies
 * ---------------------------------------------------------------------------------------- */

static const char *BASE = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";

static us_status open_text(const char *name, const char *text, long len, us_err *err,
                           us_tokenizer **tok) {
    const char *path = us_test_write(name, text, len);
    us_err_clear(err);
    *tok = NULL;
    return us_tokenizer_open(tok, path, NULL, err);
}

TEST(tokenizer_bad_vocab_errors) {
    us_err err;
    us_tokenizer *tok;
    char text[256];
    char msg[1024];

    snprintf(text, sizeof text, "%sa\n\nb\n", BASE);
    CHECK_EQ_INT(open_text("empty_line.txt", text, -1, &err, &tok), US_EFORMAT);
    CHECK(tok == NULL);
    CHECK_EQ_INT(err.line, 6);
    CHECK(strstr(err.file, "empty_line.txt") != NULL);
    CHECK(strstr(us_err_str(&err, msg, sizeof msg), "empty_line.txt:6:") != NULL);

    snprintf(text, sizeof text, "%scat\ndog\ncat\n", BASE);
    CHECK_EQ_INT(open_text("dup.txt", text, -1, &err, &tok), US_EFORMAT);
    CHECK_EQ_INT(err.line, 7);
    CHECK(strstr(err.file, "dup.txt") != NULL);
    CHECK(strstr(err.msg, "\"cat\"") != NULL);
    CHECK(strstr(err.msg, "line 5") != NULL);

    /* Trailing blanks are trimmed first, so "cat " duplicates "cat". */
    snprintf(text, sizeof text, "%scat\ncat \n", BASE);
    CHECK_EQ_INT(open_text("dup_blank.txt", text, -1, &err, &tok), US_EFORMAT);
    CHECK_EQ_INT(err.line, 6);

    snprintf(text, sizeof text, "%sca\xff\n", BASE);
    CHECK_EQ_INT(open_text("utf8.txt", text, -1, &err, &tok), US_EFORMAT);
    CHECK_EQ_INT(err.line, 5);

    snprintf(text, sizeof text, "%sab", BASE);
    size_t l = strlen(text);
    text[l - 1] = '\0'; /* "a\0" on line 5 */
    CHECK_EQ_INT(open_text("nul.txt", text, (long)l, &err, &tok), US_EFORMAT);
    CHECK_EQ_INT(err.line, 5);

    CHECK_EQ_INT(open_text("no_unk.txt", "[PAD]\n[CLS]\n[SEP]\nx\n", -1, &err, &tok),
                 US_EFORMAT);
    CHECK(strstr(err.msg, "[UNK]") != NULL);
    CHECK(strstr(err.file, "no_unk.txt") != NULL);

    CHECK_EQ_INT(open_text("empty.txt", "", 0, &err, &tok), US_EEMPTY);
    CHECK(strstr(err.file, "empty.txt") != NULL);

    us_err_clear(&err);
    tok = NULL;
    CHECK_EQ_INT(us_tokenizer_open(&tok, us_test_path("missing.txt"), NULL, &err),
                 US_ENOTFOUND);
    CHECK(tok == NULL);
    CHECK(strstr(err.file, "missing.txt") != NULL);

    us_tokenizer_config cfg = us_tokenizer_config_default();
    cfg.max_len = 1;
    us_err_clear(&err);
    CHECK_EQ_INT(us_tokenizer_open(&tok, MINI_VOCAB, &cfg, &err), US_EINVAL);
    CHECK_STR(err.field, "max_len");
}

TEST(tokenizer_vocab_crlf_and_no_final_newline) {
    us_err err;
    us_tokenizer *tok;
    CHECK_OK(open_text("crlf.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\ncat \r\n##s", -1, &err,
                       &tok),
             err);
    REQUIRE(tok);
    CHECK_EQ_INT(us_tokenizer_vocab_size(tok), 6);
    CHECK_EQ_INT(us_tokenizer_id(tok, "cat"), 4);
    CHECK_EQ_INT(us_tokenizer_id(tok, "##s"), 5);
    EXPECT(tok, "cats", 8, 2, 4, 5, 3);
    /* No [MASK] in this vocabulary: "[MASK]" is plain text, [UNK] here. */
    EXPECT(tok, "[MASK]", 8, 2, 1, 1, 1, 3);
    us_tokenizer_close(tok);
}

/* ------------------------------------------------------------------------------------------
 * Agreement with the reference on the real vocabulary
 * ---------------------------------------------------------------------------------------- */

/* Undoes make_tokens.py's escapes ("\\\\", "\\u{HEX}") of s[0..n) into out (room for 4n + 1);
 * returns the length, or -1 on a malformed escape. */
static long unescape(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        if (i + 1 < n && s[i + 1] == '\\') {
            out[o++] = '\\';
            i++;
            continue;
        }
        if (i + 2 >= n || s[i + 1] != 'u' || s[i + 2] != '{') return -1;
        char *end;
        unsigned long cp = strtoul(s + i + 3, &end, 16);
        if (end == s + i + 3 || (size_t)(end - s) >= n || *end != '}') return -1;
        int k = us_utf8_put(out + o, (uint32_t)cp);
        if (cp == 0) {
            out[o] = '\0';
            k = 1;
        }
        if (k == 0) return -1;
        o += (size_t)k;
        i = (size_t)(end - s);
    }
    out[o] = '\0';
    return (long)o;
}

TEST(tokenizer_reference_fixture) {
    FILE *probe = fopen(MODEL_VOCAB, "rb");
    if (!probe) SKIP(MODEL_VOCAB " not found; `make models` fetches it");
    fclose(probe);
    us_err err;
    us_tokenizer *tok = NULL;
    us_err_clear(&err);
    CHECK_OK(us_tokenizer_open(&tok, MODEL_VOCAB, NULL, &err), err);
    REQUIRE(tok);
    CHECK_EQ_INT(us_tokenizer_vocab_size(tok), 30522);
    CHECK_EQ_INT(us_tokenizer_id(tok, "[PAD]"), 0);
    CHECK_EQ_INT(us_tokenizer_id(tok, "[UNK]"), 100);
    CHECK_EQ_INT(us_tokenizer_id(tok, "[CLS]"), 101);
    CHECK_EQ_INT(us_tokenizer_id(tok, "[SEP]"), 102);
    CHECK_EQ_INT(us_tokenizer_id(tok, "[MASK]"), 103);

    FILE *f = fopen(TOKENS_TSV, "rb");
    if (!f) us_tokenizer_close(tok);
    REQUIRE(f);
    enum { MAXL = 300, LINE = 1 << 16 }; /* MAXL > the config's 256, so padding shows too */
    char *line = malloc(LINE), *text = malloc(4 * LINE + 1);
    if (!line || !text) {
        free(line);
        free(text);
        fclose(f);
        us_tokenizer_close(tok);
    }
    REQUIRE(line && text);
    int32_t ids[MAXL];
    uint8_t mask[MAXL];
    int cases = 0, agree = 0, lineno = 0;
    while (fgets(line, LINE, f)) {
        lineno++;
        size_t len = strlen(line);
        CHECK(len < LINE - 1); /* a whole line fit */
        if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
        if (len == 0 || line[0] == '#') continue;
        char *tab1 = strchr(line, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        long tlen = tab2 ? unescape(line, (size_t)(tab1 - line), text) : -1;
        if (tlen < 0) {
            us_test_fail(t_, __FILE__, __LINE__, TOKENS_TSV ":%d: malformed line", lineno);
            continue;
        }
        int want[MAXL], nwant = 0;
        for (char *p = tab1 + 1; p < tab2;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (nwant == MAXL) break;
            want[nwant++] = (int)v;
            p = end;
        }
        cases++;
        int n = us_tokenizer_encode(tok, text, (size_t)tlen, ids, mask, MAXL);
        int first_bad = -1;
        for (int i = 0; i < (n > nwant ? n : nwant) && first_bad < 0; i++)
            if (i >= n || i >= nwant || ids[i] != want[i]) first_bad = i;
        for (int i = n; i < MAXL; i++)
            if (ids[i] != 0 || mask[i] != 0) first_bad = first_bad < 0 ? i : first_bad;
        if (first_bad < 0) {
            agree++;
        } else {
            us_test_fail(t_, __FILE__, __LINE__,
                         TOKENS_TSV ":%d: \"%.50s\": %d tokens, want %d; first difference at "
                         "%d: got %d (%s), want %d",
                         lineno, line, n, nwant, first_bad, first_bad < n ? ids[first_bad] : -1,
                         first_bad < n ? us_tokenizer_token(tok, ids[first_bad]) : "-",
                         first_bad < nwant ? want[first_bad] : -1);
        }
    }
    fclose(f);
    free(line);
    free(text);
    us_tokenizer_close(tok);
    CHECK(cases >= 40);
    CHECK_EQ_INT(agree, cases);
}
