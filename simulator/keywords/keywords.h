/* keywords.h — the public header of the simulator/keywords sub-room (DESIGN.md: one public
 * header per room and sub-room); llm.h and extract_internal.h beside it are private to
 * simulator/keywords/, and so are the prompt templates of simulator/keywords/prompts/.
 *
 * ==== Keywords ==== (simulator/keywords/extract.c, keywords.c, builtin_extract.c, prompt.c,
 * answer.c)
 *
 * The extract stage: for every item a category, pros keywords (reasons to like it) and cons
 * keywords (reasons to dislike it), as in "LLM-Powered User Simulator for Recommender System":
 * an objective pass over the item's metadata and a subjective pass over its reviews, merged,
 * normalized and turned into a vocabulary with integer ids.
 *
 *   us_extract_config cfg = us_extract_config_default();   // built-in extractor, no network
 *   us_extract_report rep;
 *   us_err err;
 *   if (us_extract("games.usdb", &cfg, &rep, &err) != US_OK) ...;
 *   // or an LLM: cfg.llm_url = "http://127.0.0.1:8080/v1"; cfg.model = "qwen2.5";
 *
 * Tables written (read by `usersim embed` and us_sim_open):
 *   keyword(id, text UNIQUE, n_items)                 ids dense from 0 in text order
 *   item_keyword(item, side 0 pros / 1 cons, keyword)
 *   item_profile(item, category, pros_text, cons_text, source)   keywords joined with ", "
 *   keyword_evidence(item, side, keyword, support, evidence)     why each keyword is there
 *   extraction(item, pass, prompt_version, model, status, result, raw, error, attempts)
 *       the cache: one row per item and pass, keyed by the prompt version (16 hex digits of
 *       the template's SHA-256; "builtin-v1" and "builtin-v1:<min_review_share>" for the
 *       built-in passes) and model ("builtin"); passes "objective", "subjective" (built-in),
 *       "subjective-batch" or "subjective-review" (LLM); result is the pass's JSON
 *       {"category", "pros": [{"reason", "evidence", "keywords": [...], "support"}], "cons"}
 *   llm_request(item, pass, prompt_version, model, attempt, outcome, http_status, latency_s,
 *       prompt_tokens, completion_tokens, error)      one row per request sent
 *   keyword_build(id = 1, signature)   what the final tables were built from: the pass keys,
 *       the model and the merge settings (limit, min_items, max_item_share, max_per_side)
 * Resumption: pass results are committed in small transactions as they arrive; an item whose
 * row for (pass, prompt version, model) exists is skipped, so re-running finishes an
 * interrupted run (kill -9 included) and a changed prompt or model re-extracts only what it
 * affects. Failed rows are retried by the next run; an answer the server cut off at max_tokens
 * (finish_reason "length") is such a failure, even when its beginning parses. The final tables
 * are rebuilt from the cache in one transaction at the end of a run, unless the run wrote
 * nothing to the cache and keyword_build says they were built from the same keys and
 * settings: a run with nothing to do writes nothing (and works on a store it cannot write).
 * The merge: keywords normalized (HTML entities, ASCII case, spaces and punctuation, simple
 * plurals, stop words trimmed at both ends, 1-4 words and 2-40 bytes); per item each keyword's
 * support summed over passes, kept on the side with more support (dropped on a tie), the top
 * max_per_side per side; then dropped everywhere when on fewer than min_items items (rare:
 * typos, one-off phrases) or more than max_item_share of them (common: "quality", "price";
 * 0.25 by default: on the demo store a lower share raises the keyword vote's held-out AUC,
 * 0.518 at 0.25 to 0.549 at 0.1, but drops real aspects: the recall of the planted aspects
 * falls from 0.91 to 0.81 at 0.15 and 0.50 at 0.1).
 *
 * It deliberately does not: translate, spell-correct, or merge synonyms ("sturdy" and
 * "solid" stay two keywords; the embed stage relates them).
 */
#ifndef USERSIM_SIMULATOR_KEYWORDS_H
#define USERSIM_SIMULATOR_KEYWORDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum us_extract_batching {
    US_EXTRACT_PER_ITEM = 0,   /* subjective pass: one request per item with a batch of reviews */
    US_EXTRACT_PER_REVIEW = 1, /* one request per review (the paper; many more requests) */
} us_extract_batching;

typedef enum us_extract_format {
    US_EXTRACT_LINES = 0, /* "Pros 1:" / "Evidence:" / "Keywords:" lines (the paper) */
    US_EXTRACT_JSON = 1,  /* a JSON object (with the server's JSON mode) */
} us_extract_format;

/* Progress events for callers (the CLI's bar, tests). */
typedef void (*us_extract_progress_fn)(void *ctx, uint64_t done, uint64_t total,
                                       uint64_t failed);

typedef struct us_extract_config {
    const char *llm_url;   /* NULL or "": the built-in extractor (default) */
    const char *model;     /* the LLM's model name; required with llm_url */
    const char *api_key;   /* NULL: none */
    const char *prompts_dir; /* NULL: the templates compiled in (copies of
                              * simulator/keywords/prompts) */
    us_extract_batching batching; /* default US_EXTRACT_PER_ITEM */
    us_extract_format format;     /* default US_EXTRACT_LINES */
    int concurrency;       /* LLM requests in flight, default 4 */
    double timeout_s;      /* per LLM attempt, default 60 */
    int max_retries;       /* transport retries per request, default 4 */
    int max_tokens;        /* per answer, default 512 */
    double temperature;    /* sampling temperature in [0, 2], default 0; like max_tokens and
                            * the timeouts, not part of the cache key */
    uint64_t limit;        /* only the first `limit` items by id; 0: all */
    int reviews_per_item;  /* reviews sampled per item for the LLM subjective pass, default 20 */
    int review_chars;      /* each review truncated to this many bytes, default 600 */
    int item_budget_chars; /* all of one item's reviews in a batch, default 6000 (~1500 tokens) */
    int min_items;         /* a keyword on fewer items is dropped, default 2 */
    double max_item_share; /* a keyword on more than this share of the items (and on more
                            * than 5) is dropped, default 0.25 */
    int max_per_side;      /* keywords kept per item and side, by support, default 10 */
    double min_review_share; /* built-in: a review phrase must be backed by at least this share
                              * of the item's reviews (and 2), default 0.2 */
    int commit_every;      /* built-in: items per transaction, default 64 */
    uint64_t seed;         /* review sampling, default 1 */
    int quiet;             /* no progress bar */
    const us_log *log;     /* NULL: stderr */
    us_extract_progress_fn progress; /* NULL: none; called after each item is stored */
    void *progress_ctx;
} us_extract_config;

/* The defaults listed above: the built-in extractor. Returns a value; nothing to free. */
us_extract_config us_extract_config_default(void);

/* Requests of one pass, from the llm_request log. */
typedef struct us_extract_pass_stats {
    char pass[24];          /* "objective", "subjective-batch", "subjective-review", ... */
    uint64_t requests;      /* rows in the log */
    uint64_t ok;            /* answered and parsed */
    uint64_t invalid;       /* answered but unparsable (each is retried once) */
    uint64_t failed;        /* no answer after the client's retries */
    uint64_t prompt_tokens, completion_tokens; /* as reported by the server */
    double latency_mean_s, latency_max_s;
} us_extract_pass_stats;

#define US_EXTRACT_MAX_PASSES 8

typedef struct us_extract_report {
    uint64_t items;         /* items in scope (after limit) */
    uint64_t cached;        /* item-pass results found already done */
    uint64_t extracted;     /* item-pass results made by this run */
    uint64_t failed;        /* item-pass results recorded as failed by this run */
    char first_error[320];  /* the first of them: "item I, pass P: why" ("" when none) */
    uint64_t profiles;      /* item_profile rows written */
    uint64_t keywords;      /* vocabulary size */
    uint64_t links;         /* item_keyword rows */
    char source[128];       /* "builtin-v1" or "<model>@<versions>" */
    double seconds;
    int n_passes;
    us_extract_pass_stats passes[US_EXTRACT_MAX_PASSES]; /* the whole log, all runs */
} us_extract_report;

/* Runs the extract stage on the store at path with cfg (NULL: defaults): both passes for every
 * item in scope not already in the cache, then rebuilds the final tables. US_ENOTFOUND when the
 * store is missing, US_EINVAL for a bad config (llm_url without model, ranges), US_EIO for a
 * prompt file that cannot be read, US_EDB for SQLite errors. A request that fails is recorded
 * (status 'failed', with the raw answer) and counted in rep->failed, with the first reason in
 * rep->first_error; the final tables are built from the items that succeeded, and the next run
 * retries only the failed ones. The call still returns US_OK then: the caller decides (the
 * command exits 1, and `usersim build` stops there, since a stage with failed items is not
 * done). Borrows cfg and its
 * strings for the call; fills the caller's *rep (may be NULL). */
us_status us_extract(const char *path, const us_extract_config *cfg, us_extract_report *rep,
                     us_err *err);

/* Reads the request log and the final tables of a store into *rep (items = item_profile
 * rows), for `usersim extract --report`. Fills the caller's *rep; the store is opened
 * read-only and closed before returning. */
us_status us_extract_summary(const char *path, us_extract_report *rep, us_err *err);

/* The version tag of prompt template `name` ("objective", "review", "batch", with "-json" for
 * the JSON variants) as loaded from dir (NULL: the built-in copies): 16 hex digits of the
 * SHA-256 of its text, into ver[17]. US_ENOTFOUND for an unknown name, the loader's errors for
 * a bad folder. Borrows dir and name for the call; writes the caller's ver. */
us_status us_extract_prompt_version(const char *dir, const char *name, char ver[17],
                                    us_err *err);

#ifdef __cplusplus
}
#endif
#endif
