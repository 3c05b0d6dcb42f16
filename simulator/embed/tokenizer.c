/* tokenizer.c — the BERT uncased WordPiece tokenizer: vocab.txt in, token ids out, exactly as the
 * Hugging Face `tokenizers` pipeline of a sentence-transformers BERT model does it:
 *
 *   0. added tokens   [PAD] [UNK] [CLS] [SEP] [MASK] written literally in the raw text are those
 *                     tokens (case-sensitive, anywhere, even inside a word);
 *   1. clean text     U+0000, U+FFFD and control/format characters (Cc Cf Co Cs, not TAB LF CR)
 *                     are dropped; whitespace (White_Space, TAB, LF, CR) becomes a space;
 *   2. CJK            each ideograph of the reference's ranges is a word of its own;
 *   3. strip accents  NFD, then the nonspacing marks (Mn) are dropped;
 *   4. lowercase      full Unicode lowercase, one character at a time (no final-sigma rule);
 *   5. pre-tokenize   split on whitespace, then every punctuation character (ASCII punctuation
 *                     and P*) is a word of its own;
 *   6. WordPiece      greedy longest match first, "##" before every piece but the first; a word
 *                     with no complete cover, or longer than 100 characters, is one [UNK];
 *   7. post-process   [CLS] words... [SEP], truncated to max_len keeping [SEP], padded with [PAD].
 *
 * Steps 1-5 are a function of one code point at a time, so the text is streamed: each input code
 * point becomes 0..16 output characters, appended to the current word (at most 100 characters are
 * kept; past that the word is [UNK] anyway), and a word is looked up when it ends. Encoding needs
 * no allocation and stops reading as soon as the output is full.
 *
 * Deliberately not done:
 *   - canonical reordering of combining marks, which NFD would do before the Mn marks are dropped.
 *     It only moves the 25 non-Mn characters with a nonzero combining class (a few Mc vowel
 *     signs, two Hangul tone marks, musical symbols) past one another; none of them is in the
 *     BERT uncased vocabulary, so a word holding one is [UNK] in any order.
 *   - token offsets, pairs of sequences, type ids, decoding ids back to text.
 * The Unicode data is Python's (simulator/embed/unicode_tables.c); where it differs from the
 * older or newer data compiled into the reference, see
 * tests/fixtures/tokenizer/make_unicode_tables.py.
 */
#include <stdlib.h>
#include <string.h>

#include "simulator/embed/tokenizer.h"

/* The CJK ranges of the reference (tokenizers' BertNormalizer). The sixth starts at U+2B920
 * there, where Google's original BERT code has U+2B820; we follow the reference. */
static const uint32_t cjk_ranges[][2] = {
    {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xF900, 0xFAFF},   {0x20000, 0x2A6DF},
    {0x2A700, 0x2B73F}, {0x2B740, 0x2B81F}, {0x2B920, 0x2CEAF}, {0x2F800, 0x2FA1F},
};

/* Hangul syllables decompose arithmetically (Unicode §3.12): S = L V [T]. */
#define HANGUL_S0 0xAC00u
#define HANGUL_L0 0x1100u
#define HANGUL_V0 0x1161u
#define HANGUL_T0 0x11A7u
#define HANGUL_COUNT 11172u
#define HANGUL_NV 21u
#define HANGUL_NT 28u

/* One input code point becomes at most this many characters: a stripped decomposition of at
 * most 4 (checked by the generator), each lowercased into at most 4. */
#define MAX_EXPAND 16

#define NSPECIAL 5
static const char *const special_names[NSPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                    "[MASK]"};

struct us_tokenizer {
    us_tokenizer_config cfg; /* strip_accents resolved to 0 or 1 */
    us_strtab *vocab;        /* every token; strtab id == token id == line - 1 */
    us_strtab *cont;         /* "##x" tokens keyed by x */
    int32_t *cont_id;        /* cont id -> token id */
    size_t cont_cap;
    size_t max_bytes;        /* longest token in vocab, in bytes */
    size_t max_cont_bytes;   /* longest key in cont */
    int32_t pad, unk, cls, sep;
    /* Added tokens matched in raw text: the special names present in vocab, longest first. */
    int nspecial;
    const char *special[NSPECIAL];
    size_t special_len[NSPECIAL];
    int32_t special_id[NSPECIAL];
};

us_tokenizer_config us_tokenizer_config_default(void) {
    return (us_tokenizer_config){
        .lowercase = 1,
        .strip_accents = US_TOKENIZER_ACCENTS_AUTO,
        .tokenize_chinese_chars = 1,
        .match_special = 1,
        .max_len = 256,
    };
}

/* ------------------------------------------------------------------------------------------
 * Unicode lookups
 * ---------------------------------------------------------------------------------------- */

static int uc_class(uint32_t cp) {
    if (cp < 0x80) {
        /* ASCII fast path; the same answers the table gives. */
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return US_UC_SPACE;
        if (cp < 0x20 || cp == 0x7F) return US_UC_CTRL;
        if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z'))
            return 0;
        return US_UC_PUNCT;
    }
    size_t lo = 0, hi = us_uc_class_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < us_uc_class[mid].lo) hi = mid;
        else if (cp > us_uc_class[mid].hi) lo = mid + 1;
        else return us_uc_class[mid].cls;
    }
    return 0;
}

/* The entry of cp in a map sorted by cp, or NULL. */
static const us_uc_map *uc_find(const us_uc_map *map, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < map[mid].cp) hi = mid;
        else if (cp > map[mid].cp) lo = mid + 1;
        else return &map[mid];
    }
    return NULL;
}

/* Writes the lowercase of cp to out (room for 4); returns the count. */
static int uc_lower(uint32_t cp, uint32_t *out) {
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    size_t lo = 0, hi = us_uc_lower_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const us_uc_lower_range *r = &us_uc_lower[mid];
        if (cp < r->lo) hi = mid;
        else if (cp > r->hi) lo = mid + 1;
        else {
            if ((cp - r->lo) % (uint32_t)r->step == 0) {
                out[0] = (uint32_t)((int32_t)cp + r->delta);
                return 1;
            }
            break;
        }
    }
    const us_uc_map *m = uc_find(us_uc_lower_multi, us_uc_lower_multi_count, cp);
    if (m) {
        for (int i = 0; i < m->len; i++) out[i] = us_uc_lower_multi_pool[m->off + i];
        return m->len;
    }
    out[0] = cp;
    return 1;
}

/* Writes cp's NFD without Mn marks to out (room for 4); returns the count (0 for a mark). */
static int uc_strip(uint32_t cp, int cls, uint32_t *out) {
    if (cp < 0xC0) {
        out[0] = cp; /* nothing below U+00C0 decomposes, and no ASCII character is a mark */
        return 1;
    }
    if (cls == US_UC_MN) return 0;
    if (cp - HANGUL_S0 < HANGUL_COUNT) {
        uint32_t s = cp - HANGUL_S0;
        out[0] = HANGUL_L0 + s / (HANGUL_NV * HANGUL_NT);
        out[1] = HANGUL_V0 + (s % (HANGUL_NV * HANGUL_NT)) / HANGUL_NT;
        if (s % HANGUL_NT == 0) return 2;
        out[2] = HANGUL_T0 + s % HANGUL_NT;
        return 3;
    }
    const us_uc_map *m = uc_find(us_uc_strip, us_uc_strip_count, cp);
    if (!m) {
        out[0] = cp;
        return 1;
    }
    for (int i = 0; i < m->len; i++) out[i] = us_uc_strip_pool[m->off + i];
    return m->len;
}

static int is_cjk(uint32_t cp) {
    if (cp < cjk_ranges[0][0]) return 0;
    for (size_t i = 0; i < sizeof cjk_ranges / sizeof cjk_ranges[0]; i++)
        if (cp >= cjk_ranges[i][0] && cp <= cjk_ranges[i][1]) return 1;
    return 0;
}

/* Decodes one code point at s[*i] (i < n) and advances *i. An invalid sequence (a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut short) reads as
 * U+FFFD and advances past its longest valid-looking prefix, at least one byte. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i) {
    unsigned c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    int need;
    uint32_t cp;
    unsigned lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        else if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        if (c == 0xF0) lo = 0x90;      /* no overlongs */
        else if (c == 0xF4) hi = 0x8F; /* <= U+10FFFF */
    } else {
        (*i)++;
        return 0xFFFD;
    }
    size_t j = *i + 1;
    for (int k = 0; k < need; k++, j++) {
        unsigned b = j < n ? s[j] : 0;
        if (j >= n || b < (k == 0 ? lo : 0x80) || b > (k == 0 ? hi : 0xBF)) {
            *i = j;
            return 0xFFFD;
        }
        cp = cp << 6 | (b & 0x3F);
    }
    *i = j;
    return cp;
}

/* ------------------------------------------------------------------------------------------
 * Opening a vocabulary
 * ---------------------------------------------------------------------------------------- */


static us_status add_token(us_tokenizer *t, const char *path, long line, const char *s,
                           size_t len, us_err *err) {
    if (len == 0)
        return us_err_set(err, US_EFORMAT, path, line, NULL,
                          "empty token: every line of a vocab.txt holds one token");
    if (memchr(s, '\0', len))
        return us_err_set(err, US_EFORMAT, path, line, NULL, "NUL byte in a token");
    long bad = us_utf8_check(s, len);
    if (bad >= 0)
        return us_err_set(err, US_EFORMAT, path, line, NULL,
                          "invalid UTF-8 at byte %ld of the token", bad + 1);
    uint32_t id;
    int is_new;
    if (us_strtab_intern(t->vocab, s, len, &id, &is_new) != US_OK)
        return us_err_set(err, US_ENOMEM, path, line, NULL, "out of memory");
    if (!is_new)
        return us_err_set(err, US_EFORMAT, path, line, NULL,
                          "duplicate token \"%.*s\" (first on line %lu)",
                          (int)(len > 64 ? 64 : len), s, (unsigned long)id + 1);
    if (id > (uint32_t)INT32_MAX - 1)
        return us_err_set(err, US_EFORMAT, path, line, NULL, "more than 2^31 - 1 tokens");
    if (len > t->max_bytes) t->max_bytes = len;
    if (len > 2 && s[0] == '#' && s[1] == '#') {
        uint32_t cid;
        if (us_strtab_intern(t->cont, s + 2, len - 2, &cid, &is_new) != US_OK)
            return us_err_set(err, US_ENOMEM, path, line, NULL, "out of memory");
        /* cont ids are dense and in token order: cid is the count of "##" tokens so far, and
         * the key is new because the whole token was. */
        if (us_grow((void **)&t->cont_id, &t->cont_cap, (size_t)cid + 1, sizeof *t->cont_id) !=
            US_OK)
            return us_err_set(err, US_ENOMEM, path, line, NULL, "out of memory");
        t->cont_id[cid] = (int32_t)id;
        if (len - 2 > t->max_cont_bytes) t->max_cont_bytes = len - 2;
    }
    return US_OK;
}

static us_status parse_vocab(us_tokenizer *t, const char *path, const char *data, size_t size,
                             us_err *err) {
    long line = 0;
    size_t pos = 0;
    while (pos < size) {
        const char *s = data + pos;
        const char *nl = memchr(s, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - s) : size - pos;
        pos += len + (nl ? 1 : 0);
        line++;
        /* Trailing blanks and the CR of CRLF go, as the reference's trim_end does. */
        while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t' ||
                           s[len - 1] == '\v' || s[len - 1] == '\f'))
            len--;
        us_status st = add_token(t, path, line, s, len, err);
        if (st != US_OK) return st;
    }
    if (line == 0) return us_err_set(err, US_EEMPTY, path, 0, NULL, "no tokens in the file");
    return US_OK;
}

us_status us_tokenizer_open(us_tokenizer **out, const char *vocab_path,
                            const us_tokenizer_config *cfg, us_err *err) {
    US_ASSERT(out && vocab_path);
    *out = NULL;
    us_tokenizer_config c = cfg ? *cfg : us_tokenizer_config_default();
    if (c.max_len < 2)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_len",
                          "expected at least 2 (room for [CLS] and [SEP]), found %d", c.max_len);
    if (c.strip_accents != US_TOKENIZER_ACCENTS_ON && c.strip_accents != US_TOKENIZER_ACCENTS_OFF)
        c.strip_accents = c.lowercase ? 1 : 0;
    c.lowercase = c.lowercase != 0;
    c.tokenize_chinese_chars = c.tokenize_chinese_chars != 0;
    c.match_special = c.match_special != 0;

    us_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return us_err_set(err, US_ENOMEM, vocab_path, 0, NULL, "out of memory");
    t->cfg = c;
    if (us_strtab_init(&t->vocab) != US_OK || us_strtab_init(&t->cont) != US_OK) {
        us_tokenizer_close(t);
        return us_err_set(err, US_ENOMEM, vocab_path, 0, NULL, "out of memory");
    }
    char *data = NULL;
    size_t size = 0;
    us_status st = us_read_file(vocab_path, 0, &data, &size, err);
    if (st == US_OK) st = parse_vocab(t, vocab_path, data, size, err);
    free(data);
    if (st != US_OK) {
        us_tokenizer_close(t);
        return st;
    }

    int32_t *need[4] = {&t->pad, &t->unk, &t->cls, &t->sep};
    const char *need_name[4] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    for (int i = 0; i < 4; i++) {
        *need[i] = us_tokenizer_id(t, need_name[i]);
        if (*need[i] < 0) {
            us_tokenizer_close(t);
            return us_err_set(err, US_EFORMAT, vocab_path, 0, NULL,
                              "the vocabulary has no %s token", need_name[i]);
        }
    }
    /* Added tokens, longest first so that the first match at a position is the longest. */
    for (int i = 0; i < NSPECIAL; i++) {
        int32_t id = us_tokenizer_id(t, special_names[i]);
        if (id < 0) continue;
        int k = t->nspecial++;
        size_t len = strlen(special_names[i]);
        while (k > 0 && t->special_len[k - 1] < len) {
            t->special[k] = t->special[k - 1];
            t->special_len[k] = t->special_len[k - 1];
            t->special_id[k] = t->special_id[k - 1];
            k--;
        }
        t->special[k] = special_names[i];
        t->special_len[k] = len;
        t->special_id[k] = id;
    }
    *out = t;
    return US_OK;
}

void us_tokenizer_close(us_tokenizer *t) {
    if (!t) return;
    us_strtab_free(t->vocab);
    us_strtab_free(t->cont);
    free(t->cont_id);
    free(t);
}

int32_t us_tokenizer_id(const us_tokenizer *t, const char *token) {
    uint32_t id;
    if (!token || !us_strtab_find(t->vocab, token, strlen(token), &id)) return -1;
    return (int32_t)id;
}

const char *us_tokenizer_token(const us_tokenizer *t, int32_t id) {
    if (id < 0) return NULL;
    return us_strtab_get(t->vocab, (uint32_t)id, NULL);
}

int32_t us_tokenizer_vocab_size(const us_tokenizer *t) {
    return (int32_t)us_strtab_count(t->vocab);
}

const us_tokenizer_config *us_tokenizer_config_of(const us_tokenizer *t) { return &t->cfg; }

/* ------------------------------------------------------------------------------------------
 * Encoding
 * ---------------------------------------------------------------------------------------- */

#define MAX_WORD US_TOKENIZER_MAX_WORD_CHARS

/* The word being built and the output so far; lives on the encoder's stack. */
typedef struct enc {
    const us_tokenizer *t;
    int32_t *ids;
    int pos; /* next output index; wordpieces go to [1, cap) */
    int cap; /* index of the final [SEP] */
    int nchars; /* characters in the word, counting past MAX_WORD */
    uint16_t off[MAX_WORD + 1]; /* off[k]: byte offset of character k in buf */
    char buf[MAX_WORD * 4];
} enc;

static void emit(enc *e, int32_t id) {
    if (e->pos < e->cap) e->ids[e->pos] = id;
    e->pos++;
}

/* WordPiece of the finished word: the longest vocabulary token that starts it, then the
 * longest "##" token that continues it, and so on; [UNK] alone if some part has no token. */
static void end_word(enc *e) {
    int n = e->nchars;
    if (n == 0) return;
    e->nchars = 0;
    const us_tokenizer *t = e->t;
    int first = e->pos;
    if (n > MAX_WORD) {
        emit(e, t->unk);
    } else {
        int start = 0;
        while (start < n) {
            const us_strtab *tab = start == 0 ? t->vocab : t->cont;
            size_t maxb = start == 0 ? t->max_bytes : t->max_cont_bytes;
            int end = n;
            while (end > start && (size_t)(e->off[end] - e->off[start]) > maxb) end--;
            uint32_t sid = 0;
            for (; end > start; end--)
                if (us_strtab_find(tab, e->buf + e->off[start],
                                   (size_t)(e->off[end] - e->off[start]), &sid))
                    break;
            if (end == start) {
                e->pos = first;
                emit(e, t->unk);
                break;
            }
            emit(e, start == 0 ? (int32_t)sid : t->cont_id[sid]);
            start = end;
        }
    }
    if (e->pos > e->cap) e->pos = e->cap;
}

static void add_char(enc *e, uint32_t c) {
    if (e->nchars < MAX_WORD) {
        int at = e->off[e->nchars];
        int len = us_utf8_put(e->buf + at, c);
        e->off[e->nchars + 1] = (uint16_t)(at + len);
    }
    e->nchars++;
}

/* Steps 1-5 for one input code point. */
static void feed(enc *e, uint32_t cp) {
    const us_tokenizer_config *cfg = &e->t->cfg;
    int cls = uc_class(cp);
    if (cls == US_UC_CTRL) return;
    if (cls == US_UC_SPACE) {
        end_word(e);
        return;
    }
    int cjk = cfg->tokenize_chinese_chars && is_cjk(cp);
    if (cjk) end_word(e);
    uint32_t a[4], b[MAX_EXPAND];
    int na = 1, nb = 0;
    a[0] = cp;
    if (cfg->strip_accents) na = uc_strip(cp, cls, a);
    for (int i = 0; i < na; i++) {
        if (cfg->lowercase) nb += uc_lower(a[i], b + nb);
        else b[nb++] = a[i];
    }
    for (int i = 0; i < nb; i++) {
        int bc = b[i] == cp ? cls : uc_class(b[i]);
        if (bc == US_UC_PUNCT) {
            end_word(e);
            add_char(e, b[i]);
            end_word(e);
        } else {
            add_char(e, b[i]);
        }
    }
    if (cjk) end_word(e);
}

/* The added token that starts s[0..n), with its length in *len, or -1. */
static int32_t match_special(const us_tokenizer *t, const char *s, size_t n, size_t *len) {
    for (int k = 0; k < t->nspecial; k++) {
        size_t l = t->special_len[k];
        if (l <= n && memcmp(s, t->special[k], l) == 0) {
            *len = l;
            return t->special_id[k];
        }
    }
    return -1;
}

int us_tokenizer_encode(const us_tokenizer *t, const char *text, size_t len, int32_t *ids,
                        uint8_t *mask, int max_len) {
    US_ASSERT(t && ids && max_len >= 2 && (text || len == 0));
    int limit = max_len < t->cfg.max_len ? max_len : t->cfg.max_len;
    enc e;
    e.t = t;
    e.ids = ids;
    e.pos = 1;
    e.cap = limit - 1;
    e.nchars = 0;
    e.off[0] = 0;
    ids[0] = t->cls;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len && e.pos < e.cap) {
        if (s[i] == '[' && t->cfg.match_special) {
            size_t l;
            int32_t id = match_special(t, text + i, len - i, &l);
            if (id >= 0) {
                end_word(&e); /* which may fill the output */
                if (e.pos < e.cap) e.ids[e.pos++] = id;
                i += l;
                continue;
            }
        }
        feed(&e, utf8_next(s, len, &i));
    }
    end_word(&e);
    int n = e.pos;
    ids[n++] = t->sep;
    for (int k = n; k < max_len; k++) ids[k] = t->pad;
    if (mask)
        for (int k = 0; k < max_len; k++) mask[k] = k < n;
    return n;
}

int us_tokenizer_encode_batch(const us_tokenizer *t, const char *const *texts,
                              const size_t *lens, int n, int32_t *ids, uint8_t *mask,
                              int max_len, int *counts) {
    US_ASSERT(t && n >= 0 && (n == 0 || (texts && ids)) && max_len >= 2);
    int longest = 2;
    for (int r = 0; r < n; r++) {
        const char *s = texts[r];
        size_t len = 0;
        if (s) len = (lens && lens[r] != (size_t)-1) ? lens[r] : strlen(s);
        int got = us_tokenizer_encode(t, s, len, ids + (size_t)r * max_len,
                                      mask ? mask + (size_t)r * max_len : NULL, max_len);
        if (counts) counts[r] = got;
        if (got > longest) longest = got;
    }
    return longest;
}
