/* datasets.h — turns public recommender datasets, as they are published, into one SQLite store
 * per dataset (NAME.usdb), reports its statistics, and generates synthetic data with known truth.
 *
 *   us_ingest_config cfg = us_ingest_config_default();
 *   cfg.format = US_FORMAT_AMAZON;
 *   cfg.reviews_path = "Video_Games_5.json.gz";
 *   cfg.meta_path = "meta_Video_Games.json.gz";
 *   cfg.out_path = "games.usdb";
 *   us_ingest_report rep;
 *   us_err err;
 *   if (us_ingest(&cfg, &rep, &err) != US_OK) { char b[1024]; puts(us_err_str(&err, b, 1024)); }
 *
 * The store's tables (schema version US_STORE_SCHEMA):
 *   meta(key, value)                       parameters, counts, schema version, format,
 *       category_kind ("path" or "list", us_format_category_kind; absent in stores written
 *       before it existed, which are all "path")
 *   sources(role, name, path, bytes, sha256)  the input files
 *   skips(role, reason, field, count, first_line, example)  bad lines by reason
 *   users(id, raw_id, n_interactions, n_train)
 *   items(id, raw_id, title, categories JSON array, description, brand, attributes JSON object,
 *         has_meta)
 *   interactions(id, user, item, rating, label, ts, pos, split, review)
 *       label: 1 like, 0 dislike, NULL unlabeled; ts: unix seconds or NULL; pos: 0-based place in
 *       the user's chronological history; split: 0 train, 1 validation, 2 test; review: reviews.id
 *   reviews(id, title, text)                review text, referenced by interactions.review
 *   interactions_full                       a view joining interactions with their review text
 * Ids are dense from 0, in order of first appearance in the reviews file.
 */
#ifndef USERSIM_DATASETS_H
#define USERSIM_DATASETS_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define US_STORE_SCHEMA 1

/* The longest line an input file may have: 64 MiB (the largest real review or metadata line is
 * far below). A longer line is an error naming the file, the line and the byte offset where it
 * starts, found as soon as the limit is passed, so an endless line (/dev/zero) ends the ingest
 * at once instead of running forever. */
#define US_MAX_LINE (64u << 20)

typedef enum us_format {
    US_FORMAT_AMAZON,     /* Amazon reviews 2014 and 2018 (5-core files), metadata 2014 / 2018 */
    US_FORMAT_AMAZON2023, /* Amazon reviews 2023 (<Category>.jsonl.gz, meta_<Category>.jsonl.gz) */
    US_FORMAT_YELP,       /* Yelp Open Dataset review and business files */
    US_FORMAT_ANIME,      /* Anime Recommendations Database: rating.csv and anime.csv */
    US_FORMAT_MOVIELENS,  /* ml-100k u.data/u.item, ml-1m ratings.dat/movies.dat, CSV releases */
    US_FORMAT_COUNT
} us_format;

/* "amazon", "amazon2023", "yelp", "anime", "movielens". Returns a static string. */
const char *us_format_name(us_format f);
/* How the format's item categories read: "path" when they are a category path, root first
 * (Amazon 2014, 2018, 2023: ["Electronics", "Headphones", "Earbuds"]; the several paths of a
 * 2014 item are flattened into one list), "list" when they are a flat list of genres or tags
 * (MovieLens and Anime genres, Yelp categories). Written to the store's meta as
 * category_kind. Returns a static string. */
const char *us_format_category_kind(us_format f);
/* Parses a format name; US_EINVAL (with the accepted names in err) when unknown. Borrows name
 * for the call. */
us_status us_format_parse(const char *name, us_format *out, us_err *err);
/* The format's rating scale and default like threshold (label = rating >= threshold):
 * 1-5 with threshold 3 for Amazon, Yelp and MovieLens (0.5-5); 1-10 with threshold 6 for Anime.
 * Any output pointer may be NULL. */
void us_format_scale(us_format f, double *min, double *max, double *like_threshold);

typedef struct us_ingest_config {
    us_format format;
    const char *reviews_path; /* required: ratings / reviews file, plain or .gz */
    const char *meta_path;    /* optional: item metadata file, plain or .gz */
    const char *out_path;     /* required: the store to write (replaced atomically) */
    double like_threshold;    /* NAN: the format's default (us_format_scale) */
    int kcore;                /* keep users and items with >= kcore interactions; 0: keep all */
    int strict;               /* stop at the first bad line instead of skipping it */
    const char *state;        /* Yelp only: keep businesses of this state (e.g. "MO") */
    int quiet;                /* no progress bars, no summary log lines */
    const us_log *log;        /* NULL: stderr */
} us_ingest_config;

/* Defaults: format amazon, like_threshold NAN (the format's), kcore 0, not strict, no state,
 * not quiet, log NULL; the paths are NULL and must be set. */
us_ingest_config us_ingest_config_default(void);

#define US_MAX_SKIP_KINDS 32

/* One kind of bad line: which file, why, which field, how many, and the first one. */
typedef struct us_skip_count {
    char role[8];     /* "reviews" or "meta" */
    char reason[24];  /* "malformed", "missing-field", "wrong-type", "out-of-range",
                         "invalid-utf8", "truncated-gzip"; "too-long" only in stores written
                         before an over-long line became an error */
    char field[64];
    uint64_t count;
    long first_line;
    char example[512]; /* the first error message */
} us_skip_count;

typedef struct us_ingest_report {
    uint64_t bytes_read;   /* uncompressed bytes of all input files */
    uint64_t lines;        /* lines of the reviews file */
    uint64_t records;      /* valid review records */
    uint64_t skipped;      /* bad lines, reviews and meta */
    uint64_t meta_skipped; /* of those, bad lines of the metadata file */
    uint64_t filtered;     /* records dropped by --state */
    uint64_t duplicates;   /* user-item pairs seen again (the latest was kept) */
    uint64_t kcore_removed;/* interactions removed by k-core filtering */
    uint32_t kcore_rounds;
    uint64_t meta_lines, meta_records, meta_unused;
    uint32_t users, items, items_with_meta;
    uint64_t interactions;
    double seconds;
    int nskip_kinds;
    us_skip_count skips[US_MAX_SKIP_KINDS];
} us_ingest_report;

/* Reads the configured files and writes the store at cfg->out_path. The store is built in
 * "<out>.tmp-<pid>" beside it and renamed into place only when complete, so an interrupted or
 * failed ingest leaves any existing store untouched; temporary files left by killed ingests are
 * removed by the next. The store's writer lock (us_store_lock_acquire) is held throughout: while
 * another process writes the store, US_EIO "another usersim is writing <out> (pid N)" and
 * nothing is touched. An out_path that is one of the inputs (the same file under any name) is
 * US_EINVAL; a path starting "file:" is a file of that name, never an SQLite URI.
 * Deterministic: the same inputs and parameters give the same store. Bad lines are skipped and
 * counted by reason (rep->skips), or with cfg->strict the first one fails with err naming
 * file:line: field. A reviews file with no valid record in its first 100 lines is US_EFORMAT
 * ("wrong --format?"; US_EEMPTY when a shorter file has none), a metadata file with none in its
 * first 100 lines, or in all of them when fewer, US_EFORMAT ("wrong --meta?"), and a line over
 * US_MAX_LINE US_EFORMAT naming its byte offset. A UTF-8 byte-order mark before the first line
 * of any file is ignored. Borrows cfg and its strings for the call; fills the caller's *rep (may
 * be NULL). */
us_status us_ingest(const us_ingest_config *cfg, us_ingest_report *rep, us_err *err);

/* Paper-style statistics of a store. */
typedef struct us_store_stats {
    char format[24];
    int schema;
    uint64_t users, items, interactions;
    uint64_t labeled, likes;
    uint64_t train, valid, test;
    uint64_t with_text;        /* interactions with non-empty review text */
    uint64_t items_with_meta;
    double density;            /* interactions / (users * items) */
    double like_ratio;         /* likes / labeled */
    double mean_history, median_history;
    double text_share;         /* with_text / interactions */
    double meta_share;         /* items_with_meta / items */
    int64_t first_ts, last_ts; /* 0 when the dataset has no time */
} us_store_stats;

/* Checks that path is a usersim store this build can read, before a command uses it, and says
 * what is wrong when it is not: US_ENOTFOUND when no file is there; US_EDB "locked by a writer
 * (another command is writing it): wait or retry" when a writer still holds it after a short
 * wait; US_EFORMAT "truncated ...: rebuild it" when the file is shorter than its own header
 * says or SQLite finds it damaged; US_EFORMAT naming "schema N" and "upgrade usersim" when a
 * newer usersim wrote it (or "rebuild it" for an older schema); US_EFORMAT "not a usersim store"
 * only for a file that is not SQLite or has no meta table. Opens and closes the store
 * read-only; writes nothing. Borrows path for the call. */
us_status us_store_check(const char *path, us_err *err);

/* Opens the store read-only and computes its statistics. US_ENOTFOUND when the file does not
 * exist, US_EFORMAT when it is not a usersim store of a known schema. Fills the caller's *out;
 * the store is closed before returning. */
us_status us_store_stats_read(const char *path, us_store_stats *out, us_err *err);

/* Synthetic data in the Amazon 2018 format, from a generative model with known truth.
 * Items have a category and aspects (each with a quality sign); users have latent likes and
 * dislikes over aspects and categories, a taste that drifts slowly over their history, and a
 * rating = 3 + preference match + noise, clamped and rounded to 1..5. The true like probability
 * P(rating >= 3) of every (user, item) pair used is written to truth.csv. */
typedef struct us_synth_config {
    const char *out_dir;  /* created if missing */
    uint32_t users;       /* default 2000 */
    uint32_t items;       /* default 1000 */
    uint64_t reviews;     /* default 40000 (about 20 per user); raised to min_history * users
                             when smaller, lowered to max_history * users when larger */
    uint32_t min_history; /* every user reviews at least this many items (1..items),
                             default 5 */
    uint32_t max_history; /* and at most this many (min_history..items; 0: items), default 0.
                             The history lengths between are heavy-tailed (log-normal) */
    uint32_t categories;  /* default 12 */
    uint32_t aspects;     /* default 40 */
    double noise;         /* std of the rating noise, default 0.8 */
    double drift;         /* std of the per-review taste random walk, default 0.05 */
    double choice_taste;  /* how much category affinity drives which items a user picks
                             (0..20; 0: popularity only), default 3 */
    double bias;          /* mean of the users' rating bias (-3..3), default 0.35 (like rate
                             about 0.9); lower gives fewer likes */
    uint64_t seed;        /* default 1 */
    int quiet;
} us_synth_config;

/* The defaults listed above, with out_dir NULL (must be set). */
us_synth_config us_synth_config_default(void);

typedef struct us_synth_report {
    uint64_t reviews;
    uint32_t users, items;
    double like_rate; /* share of reviews with rating >= 3 */
    double seconds;
    char reviews_path[1024]; /* <out>/Synthetic_5.json.gz */
    char meta_path[1024];    /* <out>/meta_Synthetic.json.gz */
    char truth_path[1024];   /* <out>/truth.csv: user,item,p_like,rating,label */
    char aspects_path[1024]; /* <out>/aspects.csv: item,aspect,quality,good,bad (the planted
                                aspects: item asin, aspect name, +1 good / -1 bad, and the
                                clauses reviews use for a good and a bad experience) */
} us_synth_report;

/* Writes the four files; deterministic for a seed. Every user has min_history..max_history
 * reviews; every item has at least min(5, users) reviewers (the item side of the 5-core, topped
 * up from users below max_history, so the total is the reviews above plus those top-ups),
 * except an item whose only possible reviewers are all at max_history. A field out of range is
 * US_EINVAL naming it. Borrows cfg for the call; fills the caller's *rep (may be NULL). */
us_status us_synth(const us_synth_config *cfg, us_synth_report *rep, us_err *err);

#ifdef __cplusplus
}
#endif
#endif
