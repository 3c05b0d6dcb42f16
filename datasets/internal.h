/* internal.h — private to datasets/ (and its tests and fuzzers): the line reader and the
 * per-format record parsers that us_ingest drives.
 *
 * A format parser turns ONE line of a file into one record. It never sees the file: the line
 * reader (lines.c) handles plain and gzip input, line numbers and checksums, and the dispatcher
 * (reader.c) checks UTF-8, ids and the rating scale that all formats share. Parsers report a bad
 * line by returning US_EFORMAT with err->field and err->msg set (the caller adds file and line)
 * and *why set to the kind of problem; they never crash on any bytes.
 */
#ifndef USERSIM_DATASETS_INTERNAL_H
#define USERSIM_DATASETS_INTERNAL_H

#include <cjson/cJSON.h>

#include "datasets/datasets.h"

/* Returned (positive, not an error) for a line that carries no record: a CSV header, a blank. */
#define US_NOREC 1
/* ts of a record whose dataset has no time (Anime). */
#define US_TS_NONE INT64_MIN
/* Ids longer than this are rejected. */
#define US_MAX_ID 256

typedef enum us_skip {
    US_SKIP_MALFORMED, /* not the line syntax of the format (JSON, dict literal, CSV, "::") */
    US_SKIP_MISSING,   /* a required field is absent, null or empty */
    US_SKIP_TYPE,      /* a field of the wrong type, or a value that does not parse */
    US_SKIP_RANGE,     /* a rating outside the format's scale */
    US_SKIP_UTF8,      /* invalid UTF-8 */
    US_SKIP_TRUNCATED, /* a gzip stream that ends early or is corrupt */
    US_SKIP_TOOLONG,   /* kept for stores written when over-long lines were skipped; a line
                          over US_MAX_LINE is now an error */
    US_SKIP_COUNT
} us_skip;

/* "malformed", "missing-field", "wrong-type", "out-of-range", "invalid-utf8", "truncated-gzip",
 * "too-long". */
const char *us_skip_name(us_skip s);

/* One rating / review. Every pointer borrows from the line or the reader, valid until the next
 * call on the same reader. Strings are not necessarily NUL-terminated: use the lengths. */
typedef struct us_review {
    const char *user;
    size_t user_len;
    const char *item;
    size_t item_len;
    double rating;     /* on the dataset's own scale; Anime's -1 is "watched, no rating" */
    int64_t ts;        /* unix seconds (UTC), or US_TS_NONE */
    const char *title; /* review summary / title, NULL when absent */
    size_t title_len;
    const char *text;  /* review text, NULL when absent */
    size_t text_len;
} us_review;

/* One item's metadata. Strings are NUL-terminated (or NULL when absent) and, like the cJSON
 * trees, owned by the reader until its next call. */
typedef struct us_meta {
    const char *item;
    size_t item_len;
    const char *title;
    const char *description; /* lists of paragraphs are joined with "\n" */
    const char *brand;
    cJSON *categories; /* array of strings (flattened, duplicates removed, in order), or NULL */
    cJSON *attributes; /* object with every other useful field, or NULL */
    const char *state; /* Yelp business state ("MO"), NULL elsewhere */
} us_meta;

/* A top-level member of a JSON object scanned by us_jscan: spans of the line, no copies. */
enum { US_JSTR, US_JNUM, US_JTRUE, US_JFALSE, US_JNULL, US_JARR, US_JOBJ };
typedef struct us_jval {
    const char *key; /* raw key bytes, not terminated */
    uint32_t key_len;
    uint8_t type;    /* US_JSTR ... US_JOBJ */
    uint8_t escaped; /* a string with backslash escapes */
    uint8_t decoded; /* escapes already decoded in place */
    uint32_t len;
    const char *val; /* strings: the text (NUL-terminated); others: the raw JSON text */
} us_jval;
#define US_JSCAN_MAX 48

/* Per-file parsing state: one per file being read. Zero it with us_reader_init. */
typedef struct us_reader {
    us_format format;
    int is_meta;   /* 1: a metadata file, 0: a reviews / ratings file */
    int variant;   /* format-specific (MovieLens release), 0 until the first line decides */
    int lines;     /* lines seen so far (parsers may use it to treat line 1 as a header) */
    int ncol;      /* CSV formats: number of columns of the header */
    int col[16];   /* CSV formats: column index of each field the parser needs, -1 if absent */
    cJSON *doc;    /* the current line's parsed document; freed at the next call */
    cJSON *cats;   /* us_meta.categories under construction; freed at the next call */
    cJSON *attrs;  /* us_meta.attributes under construction; freed at the next call */
    char *scratch; /* growable buffer for unescaped / converted strings */
    size_t scratch_cap, scratch_len;
    int njm;       /* us_jscan: members of the current line */
    us_jval jm[US_JSCAN_MAX];
} us_reader;

void us_reader_init(us_reader *r, us_format f, int is_meta);
/* Frees everything the reader holds. */
void us_reader_free(us_reader *r);

/* The entry points us_ingest and the fuzzers use. line is mutable (parsers may unescape in
 * place), NUL-terminated, without its line ending. Returns US_OK with *out filled, US_NOREC, or
 * US_EFORMAT with err (field, msg) and *why. Checks UTF-8 (except for formats whose parser
 * converts Latin-1), non-empty ids up to US_MAX_ID bytes, and the rating scale. */
us_status us_read_review(us_reader *r, char *line, size_t len, us_review *out, us_err *err,
                         us_skip *why);
us_status us_read_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                       us_skip *why);

/* Format parsers, one pair per format; same contract as us_read_review / us_read_meta, but
 * only for their own fields (the dispatcher has already reset *out and the reader's per-line
 * state). */
us_status us_amazon_review(us_reader *r, char *line, size_t len, us_review *out, us_err *err,
                           us_skip *why);
us_status us_amazon_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                         us_skip *why);
us_status us_amazon2023_review(us_reader *r, char *line, size_t len, us_review *out,
                               us_err *err, us_skip *why);
us_status us_amazon2023_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                             us_skip *why);
us_status us_yelp_review(us_reader *r, char *line, size_t len, us_review *out, us_err *err,
                         us_skip *why);
us_status us_yelp_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                       us_skip *why);
us_status us_anime_review(us_reader *r, char *line, size_t len, us_review *out, us_err *err,
                          us_skip *why);
us_status us_anime_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                        us_skip *why);
us_status us_movielens_review(us_reader *r, char *line, size_t len, us_review *out,
                              us_err *err, us_skip *why);
us_status us_movielens_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                            us_skip *why);

/* ---- helpers shared by the parsers (reader.c) ---- */

/* The dataset's own name of its time field ("unixReviewTime", "date", "timestamp"). */
const char *us_format_time_field(us_format f);

/* Sets err (field, "expected ..., found ...") and *why; returns US_EFORMAT. */
us_status us_bad(us_err *err, us_skip *why, us_skip kind, const char *field, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

/* Review lines (the hot path) are read with us_jscan (jscan.c): the line is validated as one
 * JSON object and its top-level members recorded in r->jm, without building a tree; strings
 * are decoded in place on demand. The us_jscan_* getters have the same contracts and messages
 * as the us_json_* ones below. Metadata lines, whose nested values are kept, use cJSON. */
us_status us_jscan(us_reader *r, char *line, size_t len, us_err *err, us_skip *why);
/* The member called name (first if repeated), or NULL. */
us_jval *us_jget(us_reader *r, const char *name);
/* A string member's text, its escapes decoded in place (v->len updated). */
const char *us_jstr(us_jval *v);
us_status us_jscan_id(us_reader *r, const char *name, const char **s, size_t *len,
                      us_err *err, us_skip *why);
us_status us_jscan_text(us_reader *r, const char *name, const char **s, size_t *len,
                        us_err *err, us_skip *why);
us_status us_jscan_number(us_reader *r, const char *name, double *out, us_err *err,
                          us_skip *why);

/* The byte (1-based) where s[0..len) first opens an array or object deeper than max_depth
 * levels (brackets inside strings do not count), or 0 when it never does. */
size_t us_json_too_deep(const char *s, size_t len, int max_depth);
/* Rejects a line whose JSON did not parse (at: 0-based byte where parsing stopped): "nested
 * too deep" when it is deeper than max_depth, else "invalid JSON at byte". */
us_status us_json_invalid(const char *line, size_t len, size_t at, int max_depth, us_err *err,
                          us_skip *why);
/* Parses line as one JSON object into r->doc (cJSON). */
us_status us_json_line(us_reader *r, const char *line, size_t len, us_err *err, us_skip *why);
/* A required id: a non-empty string, or an integer number (written as decimal text into the
 * reader's scratch). */
us_status us_json_id(us_reader *r, const cJSON *obj, const char *name, const char **s,
                     size_t *len, us_err *err, us_skip *why);
/* An optional string: *s NULL when absent or null; any other non-string type is an error. */
us_status us_json_text(const cJSON *obj, const char *name, const char **s, size_t *len,
                       us_err *err, us_skip *why);
/* A required number; a string holding a decimal number is accepted too. */
us_status us_json_number(const cJSON *obj, const char *name, double *out, us_err *err,
                         us_skip *why);
/* Appends every string found in v (a string, or arrays nested to any depth) to the array
 * r->cats (created on first use), splitting each on `sep` when sep != 0, trimming spaces and
 * skipping empty strings and duplicates. */
void us_meta_add_categories(us_reader *r, const cJSON *v, char sep);
/* Moves (detaches) obj's member `name` into r->attrs under the same name, if present. */
void us_meta_keep_attr(us_reader *r, cJSON *obj, const char *name);
/* Text of a string, or of an array of strings joined with "\n", in reader scratch; NULL when
 * absent, null or empty. */
const char *us_meta_join_text(us_reader *r, const cJSON *v);

/* Copies s[0..len) NUL-terminated into the reader's scratch and returns it. Scratch is reset at
 * every line; returned pointers stay valid until then (the buffer never moves within a line:
 * it is sized for the line before the parser runs). */
char *us_scratch_put(us_reader *r, const char *s, size_t len);

/* Strict number parsing of a whole field (leading/trailing spaces allowed). 0 on success. */
int us_parse_double(const char *s, size_t len, double *out);
int us_parse_int64(const char *s, size_t len, int64_t *out);
/* "YYYY-MM-DD HH:MM:SS", "YYYY-MM-DDTHH:MM:SS" or "YYYY-MM-DD" (UTC) to unix seconds. 0 on
 * success, -1 on anything else (including impossible dates). */
int us_parse_datetime(const char *s, size_t len, int64_t *out);

/* Splits a CSV line in place: up to max fields separated by sep, RFC 4180 quoting ("a,b" and ""
 * for a quote inside quotes). Field i is fields[i][0..lens[i]) and is NUL-terminated. Returns
 * the number of fields, or -1 for an unterminated or misplaced quote. */
int us_csv_split(char *line, size_t len, char sep, char **fields, size_t *lens, int max);

/* Decodes HTML entities (&amp; &quot; &#039; &#x27; &lt; &gt; &apos; and numeric ones) in place;
 * returns the new length. Unknown entities are left as they are. */
size_t us_html_unescape(char *s, size_t len);

/* Amazon 2014 metadata: a Python dict literal ({'asin': 'X', 'price': 3.5, 'related': {...}})
 * to a cJSON tree. Strings in '...' or "...", escapes \\ \' \" \n \t \r \xNN \uNNNN
 * \UNNNNNNNN, numbers, True/False/None, lists, tuples, dicts with string keys. Returns NULL and
 * sets *err_at (byte offset) on anything else. Caller owns the tree (cJSON_Delete). */
cJSON *us_pydict_parse(const char *s, size_t len, size_t *err_at);

/* ---- the line reader (lines.c) ---- */

typedef struct us_lines us_lines;

/* Opens path for reading lines; gzip (any number of members) is detected by its magic bytes.
 * Caller owns *out; release with us_lines_close(). */
us_status us_lines_open(us_lines **out, const char *path, us_err *err);
/* Opens an in-memory buffer (borrowed; must outlive the reader) as if it were a file named
 * name. For fuzzers and tests. */
us_status us_lines_open_mem(us_lines **out, const void *data, size_t n, const char *name,
                            us_err *err);
/* The next line, without "\n" or "\r\n" (nor a UTF-8 byte-order mark before line 1), NUL-terminated and writable until the next call.
 * Returns 1 with a line, 0 at the end, US_EFORMAT at a truncated or corrupt gzip stream (err
 * names the file and line; every complete line before it has been delivered; the partial line
 * is dropped), US_EIO on a read error. A line over US_MAX_LINE bytes is US_EFORMAT naming the
 * file, the line and the byte offset where it starts, found as soon as the limit is passed
 * (without reading the rest of it, which may never end: /dev/zero); nothing more is read
 * after it. *line is never NULL when 1 is returned. */
int us_lines_next(us_lines *l, char **line, size_t *len, us_err *err);
/* Sets the longest line accepted (default US_MAX_LINE), for tests of the limit. */
void us_lines_set_max_line(us_lines *l, size_t max);
/* 1 once us_lines_next has met a line over the limit (its US_EFORMAT is then that, not gzip). */
int us_lines_too_long(const us_lines *l);
/* Line number of the last line returned (1-based). */
long us_lines_lineno(const us_lines *l);
/* 1 when the last line returned had no '\n' after it: the file ends inside it, so it may have
 * been cut short (a partial download or copy). */
int us_lines_unterminated(const us_lines *l);
/* Raw (compressed) and decoded bytes consumed so far. */
uint64_t us_lines_raw_bytes(const us_lines *l);
uint64_t us_lines_bytes(const us_lines *l);
/* Total size of the file (0 for a pipe or FIFO whose size is unknown). */
uint64_t us_lines_size(const us_lines *l);
/* SHA-256 (hex) of the raw bytes read so far; of the whole file once us_lines_next returned 0.
 * Returns US_OK, or US_ENOMEM when the hash cannot be copied. */
us_status us_lines_sha256(const us_lines *l, char hex[65], us_err *err);
/* NULL is a no-op. */
void us_lines_close(us_lines *l);

/* ---- the store being written (store.c) ---- */

typedef struct sqlite3 sqlite3;

/* Creates a fresh store at path (removing any stale file there), with the schema, tuned for one
 * bulk writer (no journal: the file is renamed into place only when complete), inside one open
 * transaction. Caller owns *db; finish with us_store_finish and us_store_close. */
us_status us_store_create(const char *path, sqlite3 **db, us_err *err);
us_status us_store_put_meta(sqlite3 *db, const char *key, const char *value, us_err *err);
/* role "reviews" or "meta"; name is path's last component. */
us_status us_store_add_source(sqlite3 *db, const char *role, const char *path, uint64_t bytes,
                              const char *sha256_hex, us_err *err);
us_status us_store_add_skip(sqlite3 *db, const us_skip_count *k, us_err *err);
/* Builds the indexes and the view, commits, and returns the space of deleted rows to the OS. */
us_status us_store_finish(sqlite3 *db, us_err *err);
/* Closes db (always) and flushes the file at path to disk. */
us_status us_store_close(sqlite3 *db, const char *path, us_err *err);
/* Flushes the folder holding path, so a rename into it is durable. Best effort. */
void us_store_sync_dir(const char *path);
/* Removes the temporary files "<store>.tmp-<pid>" that writers killed before their rename left
 * beside the store. Call only while holding the store's writer lock (then no live writer owns
 * one). Best effort. */
void us_store_remove_stale_temps(const char *store);
/* The name to give SQLite for the file at path: path itself, or "./path" when path would read as
 * a URI ("file:..."), since SQLite may be built to take such names as URIs. Returns buf or path;
 * US_EINVAL naming path when buf is too small. */
us_status us_store_sqlite_name(const char *path, char *buf, size_t cap, const char **out,
                               us_err *err);

#endif
