/* extract_internal.h — private to simulator/keywords/ (and its tests): the pieces of the keyword
 * extraction stage that the stage driver (extract.c) puts together.
 *
 * Every pass, built-in or LLM, produces one "pass result" per item, a cJSON object in one
 * canonical shape:
 *   {"category": "Headphones" or null,
 *    "pros": [{"evidence": "...", "keywords": ["battery life", ...], "support": 3}, ...],
 *    "cons": [ ... same ... ]}
 * ("support" is optional: how many reviews backed the reason; 1 when absent). The driver stores
 * it as text in the extraction table, and the merge turns the pass results of every item into
 * the final keyword tables.
 */
#ifndef USERSIM_SIMULATOR_EXTRACT_INTERNAL_H
#define USERSIM_SIMULATOR_EXTRACT_INTERNAL_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "simulator/keywords/keywords.h"

/* ---- keywords.c: normalization ---- */

#define KW_MAX_BYTES 40 /* a normalized keyword is at most this long ... */
#define KW_MAX_WORDS 4  /* ... and has at most this many words */
#define KW_MIN_BYTES 2
#define KW_COMMON_MIN_ITEMS 5 /* a keyword on at most this many items is never too common */

/* Normalizes one keyword: HTML entities decoded (kw_html_decode), ASCII lower case, every run of spaces, punctuation and symbols
 * (hyphen and apostrophe inside a word excepted) becomes one space, stop words are trimmed
 * from both ends, each word is put in a simple singular form (kw_singular), and the result must have 1..KW_MAX_WORDS words,
 * KW_MIN_BYTES..KW_MAX_BYTES bytes and at least one letter. Bytes >= 0x80 are kept as they are
 * (UTF-8 passes through). Writes the result NUL-terminated to out (cap >= KW_MAX_BYTES + 1)
 * and returns its length, or 0 when nothing acceptable is left. Borrows s for the call. */
size_t kw_normalize(const char *s, size_t n, char *out, size_t cap);

/* One word in its simple singular form, in place; returns the new length. w is lower case.
 * The rules: "-ies" -> "-y" ("stories" -> "story"; "movies" and a few others -> "-ie");
 * "-sses", "-shes", "-ches", "-xes", "-zzes" lose "es" ("glasses", "boxes"; not "headaches",
 * "niches"); words in "-ss", "-us", "-is", "-ous", "-ics" are kept ("bus", "analysis",
 * "electronics"); a word of four letters or fewer is kept unless it is a listed plural
 * ("bags", "toys"); listed words are kept ("series", "news", "blues", "rollins"); any other
 * "-s" goes. Borrows w (n bytes, written in place) for the call. */
size_t kw_singular(char *w, size_t n);

/* 1 when the lower-case word w[0..n) is a stop word (function words: articles, pronouns and
 * their contractions such as "i'm", auxiliaries, prepositions, conjunctions, empty adverbs
 * such as "still" and "really", and a few empty nouns such as "thing"; negations are not
 * stop words). Borrows w for the call. */
int kw_is_stop(const char *w, size_t n);

/* Decodes the HTML entities of s[0..n) in place, twice over (text escaped twice, such as
 * "&amp;quot;", is common in the published files): the common named ones ("&quot;", "&amp;",
 * "&lt;", "&nbsp;", "&eacute;", ...) and decimal and hexadecimal ones ("&#39;", "&#x27;") as
 * UTF-8; dashes, bullets and the no-break space become a space and typographic quotes ASCII
 * ones. Unknown or malformed entities are kept as they are. Never lengthens the text;
 * returns the new length (no NUL is written). Borrows s for the call. */
size_t kw_html_decode(char *s, size_t n);

/* 0 when keywords.c's word lists (stop words, plural exceptions) are sorted and free of
 * duplicates, else the number of the first list that is not; likewise for the entity table.
 * For tests. */
int kw_plural_lists_check(void);
int kw_entity_list_check(void);

/* ---- keywords.c: store tables and the merge ---- */

/* Creates the stage's tables when missing (keyword, item_keyword, item_profile,
 * keyword_evidence, extraction, llm_request). Borrows db. */
us_status kw_schema(sqlite3 *db, const char *path, us_err *err);

/* One item's pass results for the merge. */
typedef struct kw_item_passes {
    int64_t item;
    cJSON *objective;  /* NULL when the pass has no result for the item */
    cJSON *subjective; /* NULL likewise */
    const char *fallback_category; /* used when no pass names one; may be NULL */
} kw_item_passes;

/* Merges the pass results of items[0..n) into the final tables, replacing their previous
 * content in one transaction (the caller's: this function issues no BEGIN/COMMIT): per item,
 * every keyword is normalized, its support summed over the passes and reasons, a keyword
 * found on both sides kept on the side with more support (dropped on a tie), each side cut to
 * cfg->max_per_side by support; then keywords on fewer than cfg->min_items items or on more
 * than cfg->max_item_share of the items (and more than KW_COMMON_MIN_ITEMS) are dropped from
 * the vocabulary, in the caller's transaction, and ids are given in
 * text order from 0. source tags every item_profile row. *n_keywords and *n_links (may be
 * NULL) receive the vocabulary size and the item_keyword row count. Borrows everything. */
us_status kw_merge_write(sqlite3 *db, const char *path, const kw_item_passes *items, size_t n,
                         const us_extract_config *cfg, const char *source, uint64_t *n_keywords,
                         uint64_t *n_links, us_err *err);

/* ---- builtin_extract.c ---- */

/* One item's data as the passes see it. */
typedef struct kw_item_meta {
    int64_t id;
    const char *title, *categories_json, *description, *brand, *attributes_json; /* may be NULL */
    int category_list; /* 1: the categories are a list of genres or tags (the store's meta
                          category_kind is "list"); 0: a category path, root first */
} kw_item_meta;

typedef struct kw_review {
    double rating;
    const char *title, *text; /* may be NULL */
} kw_review;

/* The rating scale of the store, for telling high ratings from low ones. */
typedef struct kw_scale {
    double min, max, like_threshold;
} kw_scale;

/* Objective pass from metadata: no category (the driver chooses it with
 * kw_category_choose, since it depends on the catalogue), pros from every genre of a list or
 * the entries of a path past its root, the brand, "Name: text" features and description
 * sentences with a positive opinion, cons from description sentences with a negative one.
 * Caller owns *out; release with cJSON_Delete(). */
us_status kw_builtin_objective(const kw_item_meta *m, cJSON **out);

/* Subjective pass from reviews[0..n) (HTML entities decoded first): aspect phrases near
 * opinion words in every sentence,
 * polarity from the opinion words (negation flips them) and the review's rating, counted
 * once per review; a phrase backed by at least max(2, min_share * n) reviews goes to pros
 * or cons by its net vote. Phrases naming the item's own category or brand, or a word
 * sequence of its title or brand, are left out, and so are capitalized words inside a
 * sentence (names).
 * Caller owns *out; release with cJSON_Delete(). */
us_status kw_builtin_subjective(const kw_item_meta *m, const kw_review *reviews, size_t n,
                                const kw_scale *scale, double min_share, cJSON **out);

/* How many items of the catalogue carry each category entry (each item counted once). */
typedef struct kw_catalogue {
    us_strtab *tab;        /* entry text -> id */
    US_VEC(int64_t) n;     /* [id]: items carrying it */
} kw_catalogue;

/* Counts the category entries of items[0..n). Caller owns *c; release with
 * kw_catalogue_free(). */
us_status kw_catalogue_init(kw_catalogue *c, const kw_item_meta *items, size_t n);
void kw_catalogue_free(kw_catalogue *c);
/* Items carrying entry (0 when none or c is NULL). Borrows both. */
int64_t kw_catalogue_count(const kw_catalogue *c, const char *entry);

/* The item's category, chosen from its own entries to be the most specific one that the
 * catalogue shares: for a list of genres, the genre carried by the fewest items of the
 * catalogue (ties: the first listed); for a path, the entry past the root carried by the
 * fewest items (a deeper level or a narrower second path; ties: the later entry). Entries
 * that no other item carries are passed over (they group the item with nothing); when all
 * are, the first candidate is taken. Writes it NUL-terminated to buf and returns its length,
 * 0 when the item has no category (or one of cap bytes or more). Borrows everything. */
size_t kw_category_choose(const kw_item_meta *m, const kw_catalogue *c, char *buf, size_t cap);

/* The opinion score of one sentence-level phrase list, exposed for tests: the sum of the
 * opinion words' scores in text[0..n), each flipped by a negator in the three words before.
 * Borrows text for the call. */
int kw_opinion_score(const char *text, size_t n);

/* 0 when the built-in word lists are sorted and free of duplicates (they are searched by
 * bisection), else the number of the first list that is not. For tests. */
int kw_builtin_lists_check(void);

/* The aspect and opinion phrases of one sentence with its polarity, for tests: calls
 * emit(ctx, keyword, polarity) once per phrase (keyword normalized, polarity +1 / -1); the
 * sentence's polarity uses rating_sign (+1, -1 or 0) when its opinion words cancel out.
 * Borrows text for the call; kw is valid only during the emit call. */
void kw_sentence_phrases(const char *text, size_t n, int rating_sign,
                         void (*emit)(void *ctx, const char *kw, int polarity), void *ctx);

/* ---- prompt.c ---- */

typedef enum kw_prompt_id {
    KW_PROMPT_OBJECTIVE,        /* metadata -> category, pros, cons (line format) */
    KW_PROMPT_OBJECTIVE_JSON,   /* the same, JSON answer */
    KW_PROMPT_REVIEW,           /* one review -> pros (high rating) or cons (low rating) */
    KW_PROMPT_REVIEW_JSON,
    KW_PROMPT_BATCH,            /* a batch of one item's reviews -> pros and cons */
    KW_PROMPT_BATCH_JSON,
    KW_PROMPT_COUNT
} kw_prompt_id;

/* The prompt set in use: each template's text and version (first 16 hex digits of its
 * SHA-256). */
typedef struct kw_prompts {
    char *text[KW_PROMPT_COUNT];
    char version[KW_PROMPT_COUNT][17];
} kw_prompts;

/* The file name of a template in a prompts folder ("objective.txt", ...); a static string. */
const char *kw_prompt_file(kw_prompt_id id);
/* The built-in copy of a template, compiled in; a static string. */
const char *kw_prompt_builtin(kw_prompt_id id);

/* Loads every template from dir, or the built-in copies when dir is NULL. A file that is
 * missing, empty, not UTF-8 or without its {placeholders} fails with the path and field.
 * Caller owns *p's strings; release with kw_prompts_free(). */
us_status kw_prompts_load(kw_prompts *p, const char *dir, us_err *err);
void kw_prompts_free(kw_prompts *p);

/* Fills template t: every "{name}" with the value of the matching name in names[0..n) (other
 * braces are kept). Caller owns the result; release with free(). NULL when out of memory. */
char *kw_prompt_render(const char *t, const char *const *names, const char *const *values,
                       int n);

/* ---- answer.c ---- */

/* What a pass asks for, for checking an answer. */
typedef enum kw_answer_kind {
    KW_ANSWER_OBJECTIVE, /* category, pros, cons */
    KW_ANSWER_REVIEWS,   /* pros, cons (one may be absent) */
} kw_answer_kind;

/* Parses an LLM answer in the line format ("Category: ...", "Pros 1: ...", "Evidence: ...",
 * "Keywords: a, b") or the JSON format ({"category":..., "pros":[{"reason":..., "evidence":
 * ..., "keywords":[...]}], "cons": [...]}), whichever the text holds, into the canonical pass
 * result. Tolerates code fences, prose around the answer, numbering and bullets, missing
 * evidence, keywords given as one string, extra fields and empty lists; rejects an answer with
 * no usable reason and no category (objective) or no reason at all (reviews) — an answer that
 * says it found none ("Pros: none") is valid and empty. On failure writes a one-line reason to
 * why (what was expected, what was found) for the retry message. Caller owns *out; release
 * with cJSON_Delete(). Borrows text for the call. */
us_status kw_answer_parse(const char *text, size_t n, kw_answer_kind kind, cJSON **out,
                          char *why, size_t why_cap);

#endif
