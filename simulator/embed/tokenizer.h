/* tokenizer.h — the BERT uncased WordPiece tokenizer of the sentence encoder (private to the
 * embed sub-room, simulator/embed/). It reproduces the Hugging Face `tokenizers` pipeline of a sentence-transformers
 * BERT model (BertNormalizer, BertPreTokenizer, WordPiece, [CLS] ... [SEP]) from its vocab.txt.
 *
 *   us_err err;
 *   us_tokenizer *tok;
 *   us_tokenizer_config cfg = us_tokenizer_config_default();
 *   if (us_tokenizer_open(&tok, "models/all-MiniLM-L6-v2/vocab.txt", &cfg, &err) != US_OK)
 *       return err.code;
 *   int32_t ids[256];
 *   uint8_t mask[256];
 *   int n = us_tokenizer_encode(tok, "Café naïve", 10, ids, mask, 256);
 *   // ids = [CLS] cafe naive [SEP] [PAD]...,  mask = 1 1 1 1 0 ...,  n = 4
 *   us_tokenizer_close(tok);
 *
 * Encoding allocates nothing and writes only to the caller's arrays (plus about 1 KiB of stack),
 * so any number of threads may encode with one tokenizer at the same time.
 */
#ifndef USERSIM_SIMULATOR_TOKENIZER_H
#define USERSIM_SIMULATOR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* The reference pipeline drops a word longer than this many code points whole, as [UNK]. */
#define US_TOKENIZER_MAX_WORD_CHARS 100

/* strip_accents: on, off, or as `lowercase` (the reference's strip_accents = null). */
enum { US_TOKENIZER_ACCENTS_OFF = 0, US_TOKENIZER_ACCENTS_ON = 1, US_TOKENIZER_ACCENTS_AUTO = -1 };

typedef struct us_tokenizer_config {
    int lowercase;              /* full Unicode lowercasing; default 1 (an uncased model) */
    int strip_accents;          /* US_TOKENIZER_ACCENTS_*; default AUTO (follows lowercase) */
    int tokenize_chinese_chars; /* each CJK ideograph a word of its own; default 1 */
    int match_special;          /* [PAD] [UNK] [CLS] [SEP] [MASK] written literally in the text
                                 * become those tokens, as in the reference; default 1 */
    int max_len;                /* the most tokens one text becomes, [CLS] and [SEP] included;
                                 * default 256 (sentence-transformers' max_seq_length for
                                 * all-MiniLM-L6-v2; its position table allows 512) */
} us_tokenizer_config;

/* The defaults above. */
us_tokenizer_config us_tokenizer_config_default(void);

typedef struct us_tokenizer us_tokenizer;

/* Reads a vocab.txt: one token per line (LF or CRLF), the id of a token its line number - 1;
 * trailing blanks and CRs of a line are dropped (as the reference does). Fails with
 * US_ENOTFOUND when the file does not exist, US_EIO when it cannot be read, US_EEMPTY when it
 * holds no token, US_EFORMAT naming file:line for an empty line, a duplicate token (and the
 * line of its first appearance), a NUL byte or invalid UTF-8, and naming the file for a missing
 * [UNK], [CLS], [SEP] or [PAD]; US_EINVAL for a config with max_len < 2. cfg NULL means the
 * defaults. Caller owns *out (NULL on failure); release with us_tokenizer_close(). */
us_status us_tokenizer_open(us_tokenizer **out, const char *vocab_path,
                            const us_tokenizer_config *cfg, us_err *err);

/* NULL is a no-op. */
void us_tokenizer_close(us_tokenizer *t);

/* Tokenizes text[0..len) (UTF-8; NUL bytes are dropped like other control characters, and each
 * invalid byte sequence reads as U+FFFD, which the reference drops too) into
 * ids[0..n) = [CLS] wordpieces... [SEP], where n = min(tokens + 2, max_len, config max_len):
 * a long text keeps its first n - 2 wordpieces and still ends with [SEP], as the reference's
 * truncation of a single sequence does. ids[n..max_len) are [PAD] and mask[i] is 1 for i < n,
 * else 0. max_len must be >= 2 (a programmer error otherwise); text may be NULL when len is 0;
 * mask may be NULL. Returns n. Thread-safe; allocates nothing.
 * Borrows t and text for the call; ids[max_len] and mask[max_len] are the caller's. */
int us_tokenizer_encode(const us_tokenizer *t, const char *text, size_t len, int32_t *ids,
                        uint8_t *mask, int max_len);

/* us_tokenizer_encode of texts[0..n), row i into ids[i * max_len ...] and mask[i * max_len ...]
 * (shape [n, max_len]). lens NULL (or lens[i] == (size_t)-1) means the texts are NUL-terminated;
 * texts[i] NULL is an empty text. counts[i] (counts may be NULL) gets each row's n. Returns the
 * largest n of the batch (2 for an empty batch), so a caller can run the model on the first
 * columns only. Borrows t, texts and lens for the call; ids, mask and counts are the caller's. */
int us_tokenizer_encode_batch(const us_tokenizer *t, const char *const *texts,
                              const size_t *lens, int n, int32_t *ids, uint8_t *mask,
                              int max_len, int *counts);

/* The id of a token spelled exactly as in vocab.txt ("[CLS]", "##ing"), or -1 when absent.
 * Borrows t and token for the call. */
int32_t us_tokenizer_id(const us_tokenizer *t, const char *token);

/* The spelling of id (NUL-terminated), or NULL when id is out of range. Borrowed from t: valid
 * until us_tokenizer_close(t). */
const char *us_tokenizer_token(const us_tokenizer *t, int32_t id);

/* Number of tokens in the vocabulary (ids run 0 .. size - 1). */
int32_t us_tokenizer_vocab_size(const us_tokenizer *t);

/* The configuration the tokenizer was opened with (max_len included). Borrowed from t. */
const us_tokenizer_config *us_tokenizer_config_of(const us_tokenizer *t);

/* ------------------------------------------------------------------------------------------
 * Unicode tables (simulator/embed/unicode_tables.c, generated by
 * tests/fixtures/tokenizer/make_unicode_tables.py from Python's unicodedata)
 * ---------------------------------------------------------------------------------------- */

/* The class of a code point, in the reference's order of precedence; 0 (no class) for all
 * others, which the tokenizer keeps as they are. */
typedef enum us_uc_class_id {
    US_UC_CTRL = 1,  /* dropped: U+0000, U+FFFD, Cc Cf Co Cs except TAB LF CR */
    US_UC_SPACE = 2, /* a word boundary: White_Space, TAB, LF, CR */
    US_UC_PUNCT = 3, /* a word of its own: ASCII punctuation and P* */
    US_UC_MN = 4,    /* dropped when stripping accents: Mn */
} us_uc_class_id;

typedef struct us_uc_range {
    uint32_t lo, hi; /* inclusive */
    uint8_t cls;     /* us_uc_class_id */
} us_uc_range;

/* A code point mapped to pool[off .. off + len) (len may be 0: mapped to nothing). */
typedef struct us_uc_map {
    uint32_t cp;
    uint16_t off, len;
} us_uc_map;

/* lower(c) = c + delta for c = lo, lo + step, ..., hi. */
typedef struct us_uc_lower_range {
    uint32_t lo, hi;
    int32_t step, delta;
} us_uc_lower_range;

extern const char us_uc_version[]; /* the Unicode version of the tables, "14.0.0" */
/* Sorted, disjoint ranges with a class. */
extern const us_uc_range us_uc_class[];
extern const size_t us_uc_class_count;
/* Sorted by cp: NFD without Mn marks, for every code point with a canonical decomposition
 * other than Hangul syllables (decomposed arithmetically) and Mn marks (class US_UC_MN). */
extern const us_uc_map us_uc_strip[];
extern const size_t us_uc_strip_count;
extern const uint32_t us_uc_strip_pool[];
/* Sorted, disjoint: one-character lowercase mappings. */
extern const us_uc_lower_range us_uc_lower[];
extern const size_t us_uc_lower_count;
/* Sorted by cp: lowercase mappings to more than one character (U+0130 only). */
extern const us_uc_map us_uc_lower_multi[];
extern const size_t us_uc_lower_multi_count;
extern const uint32_t us_uc_lower_multi_pool[];

#endif
