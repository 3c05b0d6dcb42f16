/* core.h — what every usersim room needs: status codes and errors, logging, a progress bar,
 * PCG32 random numbers, growable arrays, string interning, UTF-8 checks and SHA-256.
 *
 *   us_err err;
 *   us_err_clear(&err);
 *   us_rng rng;
 *   us_rng_seed(&rng, 42, 54);
 *   uint32_t die = 1 + us_rng_bounded(&rng, 6);
 *   us_rng env3 = us_rng_derive(1234, 3);      // the stream of env 3 under seed 1234
 *
 * Nothing in core keeps global mutable state: every object that draws numbers, logs or draws a
 * progress bar carries its own state.
 */
#ifndef USERSIM_CORE_H
#define USERSIM_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------
 * Status codes and errors
 * ---------------------------------------------------------------------------------------- */

typedef enum us_status {
    US_OK = 0,
    US_EINVAL = -1,    /* a bad argument or option from the caller */
    US_EIO = -2,       /* a file could not be opened, read or written */
    US_EFORMAT = -3,   /* input data that does not follow its format */
    US_ENOMEM = -4,    /* an allocation failed */
    US_EDB = -5,       /* SQLite reported an error */
    US_ENOTFOUND = -6, /* a named thing (file, table, user, item) does not exist */
    US_EEMPTY = -7,    /* an input with nothing usable in it */
} us_status;

/* What went wrong, where: "file:line: field: message". file, line and field are optional
 * (empty / 0 when they do not apply). message says what was expected and what was found. */
typedef struct us_err {
    us_status code;
    long line;
    char file[256];
    char field[64];
    char msg[512];
} us_err;

/* Resets err to "no error". NULL is a no-op. */
void us_err_clear(us_err *err);

/* Fills err (when not NULL) and returns code, so callers can `return us_err_set(...)`.
 * file and field may be NULL; line 0 means "not about one line". Copies every string into err,
 * which the caller owns. */
us_status us_err_set(us_err *err, us_status code, const char *file, long line,
                     const char *field, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Formats err as "file:line: field: message" (omitting absent parts) into the caller's buf and
 * returns buf. */
const char *us_err_str(const us_err *err, char *buf, size_t n);

/* Short stable name of a status code ("ok", "invalid argument", "bad format", ...); a static
 * string. */
const char *us_status_name(us_status s);

/* Programmer errors only; stays on in release builds. Never for bad input. */
#define US_ASSERT(cond)                                                                    \
    do {                                                                                   \
        if (!(cond)) us_assert_fail(#cond, __FILE__, __LINE__);                            \
    } while (0)
void us_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

/* ------------------------------------------------------------------------------------------
 * Time, logging and progress
 * ---------------------------------------------------------------------------------------- */

/* Monotonic seconds, for rates and ETAs (never for anything that must be deterministic). */
double us_now(void);

typedef enum us_log_level { US_LOG_ERROR, US_LOG_WARN, US_LOG_INFO, US_LOG_DEBUG } us_log_level;

/* Where log lines go and how many. out NULL means stderr. */
typedef struct us_log {
    FILE *out;
    us_log_level level;
} us_log;

/* Writes one line "usersim: <level>: message" if lvl <= log->level. log NULL means stderr at
 * US_LOG_INFO. Borrows log for the call. */
void us_logf(const us_log *log, us_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A progress bar: counts, rate and ETA. On a terminal it redraws one line in place at most
 * every 0.1 s; otherwise (a log file, a pipe) it prints a plain line at most every
 * `plain_every` seconds (default 30) and one at the end. */
typedef struct us_progress {
    FILE *out;
    const char *label; /* borrowed; must outlive the bar */
    const char *unit;  /* borrowed; e.g. "lines", "MB" */
    uint64_t total;    /* 0 when unknown: no percentage or ETA */
    uint64_t done;
    double t_start, t_last;
    double plain_every;
    int tty;
    int quiet; /* draw nothing at all */
} us_progress;

/* Starts a bar on out (NULL: stderr). total 0 means unknown. quiet draws nothing. Borrows out,
 * label and unit, which must outlive the bar; the bar itself is the caller's (no allocation). */
void us_progress_begin(us_progress *p, FILE *out, const char *label, const char *unit,
                       uint64_t total, int quiet);
/* Records that `done` units are complete; draws only when the throttle allows. Cheap. */
void us_progress_set(us_progress *p, uint64_t done);
/* Draws the final state with the elapsed time and ends the line. */
void us_progress_end(us_progress *p);

/* ------------------------------------------------------------------------------------------
 * PCG32 random numbers (O'Neill, "PCG: A Family of Simple Fast Space-Efficient Statistically
 * Good Algorithms for Random Number Generation", XSH-RR 64/32)
 * ---------------------------------------------------------------------------------------- */

typedef struct us_rng {
    uint64_t state;
    uint64_t inc; /* always odd: selects the stream */
} us_rng;

/* Seeds with an initial state and a stream selector, exactly as the reference pcg32_srandom_r,
 * so seed 42 / stream 54 reproduces the published pcg32-demo output. */
void us_rng_seed(us_rng *r, uint64_t seed, uint64_t stream);

/* An independent generator for child `index` of `seed` (env i, thread i, user i): its state and
 * stream are both mixed from (seed, index), so children do not depend on how many there are or
 * in which order they are made. */
us_rng us_rng_derive(uint64_t seed, uint64_t index);

uint32_t us_rng_u32(us_rng *r);
/* Unbiased integer in [0, bound) by rejection; bound must be > 0. */
uint32_t us_rng_bounded(us_rng *r, uint32_t bound);
/* Double in [0, 1) with 53 random bits (two draws). */
double us_rng_uniform(us_rng *r);
/* Float in [0, 1) with 24 random bits (one draw). */
float us_rng_float(us_rng *r);
/* Standard normal (mean 0, variance 1) by the Box-Muller transform; two uniforms per call. */
double us_rng_normal(us_rng *r);
/* 1 with probability p (p <= 0 never, p >= 1 always), else 0; one draw. */
int us_rng_bernoulli(us_rng *r, double p);
/* Index i in [0, n) drawn with probability w[i] / sum(w); weights >= 0 with a positive sum.
 * One draw. */
uint32_t us_rng_categorical(us_rng *r, const double *w, uint32_t n);
/* Moves the generator delta steps ahead in O(log delta). */
void us_rng_advance(us_rng *r, uint64_t delta);
/* Fisher-Yates shuffle of n elements of size elsize. */
void us_rng_shuffle(us_rng *r, void *base, size_t n, size_t elsize);

/* ------------------------------------------------------------------------------------------
 * Growable arrays
 * ---------------------------------------------------------------------------------------- */

/* Makes *data (an array of elsize-byte elements with capacity *cap) hold at least `need`
 * elements, growing geometrically. Returns US_ENOMEM and leaves *data untouched on failure.
 * Caller owns *data; release with free(). */
us_status us_grow(void **data, size_t *cap, size_t need, size_t elsize);

/* A typed growable array: US_VEC(uint32_t) v = {0}; us_vec_push(&v, 7); free(v.data); */
#define US_VEC(T)                                                                          \
    struct {                                                                               \
        T *data;                                                                           \
        size_t len, cap;                                                                   \
    }
/* Appends x; evaluates to US_OK or US_ENOMEM. */
#define us_vec_push(v, x)                                                                  \
    (((v)->len < (v)->cap ||                                                               \
      us_grow((void **)&(v)->data, &(v)->cap, (v)->len + 1, sizeof *(v)->data) == US_OK)   \
         ? ((v)->data[(v)->len++] = (x), US_OK)                                            \
         : US_ENOMEM)

/* ------------------------------------------------------------------------------------------
 * String interning: byte strings to dense ids 0, 1, 2, ... in order of first appearance
 * ---------------------------------------------------------------------------------------- */

typedef struct us_strtab us_strtab;

/* Caller owns *out; release with us_strtab_free(). */
us_status us_strtab_init(us_strtab **out);
/* Returns the id of s[0..len) (any bytes, NUL allowed), adding it if new; *is_new (may be
 * NULL) tells which. Copies s into t. */
us_status us_strtab_intern(us_strtab *t, const char *s, size_t len, uint32_t *id, int *is_new);
/* 1 and *id when s is present, else 0. Never adds. */
int us_strtab_find(const us_strtab *t, const char *s, size_t len, uint32_t *id);
/* The string of id (NUL-terminated, len in *len when not NULL), or NULL for an unknown id.
 * Borrowed from t: valid until us_strtab_free(t), growth included. */
const char *us_strtab_get(const us_strtab *t, uint32_t id, size_t *len);
uint32_t us_strtab_count(const us_strtab *t);
/* Bytes held (table and string storage), for memory reports. */
size_t us_strtab_bytes(const us_strtab *t);
/* NULL is a no-op. */
void us_strtab_free(us_strtab *t);

/* 64-bit hash of bytes (seeded), for hash tables. Not cryptographic. */
uint64_t us_hash64(const void *data, size_t len, uint64_t seed);

/* ------------------------------------------------------------------------------------------
 * Files (core/file.c)
 * ---------------------------------------------------------------------------------------- */

/* Reads the whole file at path into *out, NUL-terminated (its length, without the NUL, into
 * *size when size is not NULL). max > 0 refuses a larger file (US_EFORMAT); a missing file is
 * US_ENOTFOUND, another open or read failure US_EIO, each naming path. Caller frees *out. */
us_status us_read_file(const char *path, size_t max, char **out, size_t *size, us_err *err);

/* The writer lock of a store (core/lock.c). Every command that writes a store holds it for the
 * whole write, so two writers of one store never overlap:
 *
 *   us_store_lock *lk;
 *   if (us_store_lock_acquire("x.usdb", &lk, &err) != US_OK) return ...;
 *   ... write x.usdb ...
 *   us_store_lock_release(lk);
 *
 * It is an exclusive flock(2) on "<store>.lock" beside the store, holding the holder's pid, and
 * never waits: when another process (or another thread of this one) holds it, the call fails at
 * once with US_EIO and "another usersim is writing <store> (pid N)". The kernel drops the lock
 * when its holder exits, however it exits, so a crashed writer never blocks the next one. The
 * thread that holds a lock may take it again (a command that runs other commands on the store);
 * each acquire needs its release, and the last release removes the lock file. Readers take no
 * lock. Caller owns *out; release with us_store_lock_release() (NULL is a no-op). */
typedef struct us_store_lock us_store_lock;
us_status us_store_lock_acquire(const char *store, us_store_lock **out, us_err *err);
void us_store_lock_release(us_store_lock *lock);

/* ------------------------------------------------------------------------------------------
 * Thread pool (core/pool.c)
 * ---------------------------------------------------------------------------------------- */

/* The work of worker r (0..n-1) in one run; ctx as given to us_pool_init. */
typedef void (*us_pool_fn)(void *ctx, int r);
typedef struct us_pool us_pool;

/* n_threads workers (1..1024) that run fn(ctx, r) together: worker 0 is the thread calling
 * us_pool_run, workers 1..n-1 are threads started here and asleep between runs. Caller owns
 * *out; release with us_pool_free(). Borrows ctx, which must outlive the pool. */
us_status us_pool_init(us_pool **out, int n_threads, us_pool_fn fn, void *ctx, us_err *err);
/* Runs fn(ctx, r) for every r at once and returns when all have returned. One caller at a
 * time. */
void us_pool_run(us_pool *p);
int us_pool_threads(const us_pool *p);
/* Stops and joins the threads. NULL is a no-op. */
void us_pool_free(us_pool *p);

/* ------------------------------------------------------------------------------------------
 * UTF-8
 * ---------------------------------------------------------------------------------------- */

/* Returns -1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF), else the
 * byte offset of the first invalid sequence. */
long us_utf8_check(const char *s, size_t n);

/* Writes the UTF-8 encoding of code point cp (<= 0x10FFFF, not a surrogate) to out; returns the
 * number of bytes (1-4), or 0 for an invalid code point. */
int us_utf8_put(char *out, uint32_t cp);

/* ------------------------------------------------------------------------------------------
 * SHA-256 (FIPS 180-4), computed by OpenSSL's libcrypto
 * ---------------------------------------------------------------------------------------- */

/* A running hash. The context lives on the heap (OpenSSL keeps its layout private), so a plain
 * struct copy would share it: use us_sha256_copy. */
typedef struct us_sha256 {
    struct evp_md_ctx_st *ctx; /* NULL before init and after final or free */
} us_sha256;

/* Starts a hash. Returns US_OK, or US_ENOMEM (with *s left released) when libcrypto cannot make
 * a context. Caller owns the context; us_sha256_final or us_sha256_free releases it. */
us_status us_sha256_init(us_sha256 *s, us_err *err);
/* Hashes data[0..n) on; any n, including 0. s must be between init and final. */
void us_sha256_update(us_sha256 *s, const void *data, size_t n);
/* Writes the digest of everything hashed and releases the context. */
void us_sha256_final(us_sha256 *s, uint8_t digest[32]);
/* Makes dst an independent copy of the running hash src, so one can be finished while the other
 * goes on. Returns US_OK or US_ENOMEM. Caller owns dst; release as after us_sha256_init. */
us_status us_sha256_copy(us_sha256 *dst, const us_sha256 *src, us_err *err);
/* Releases a hash that will not be finished. A released or finished s, or NULL, is a no-op. */
void us_sha256_free(us_sha256 *s);
/* The digest of data[0..n) in one call. Returns US_OK or US_ENOMEM. */
us_status us_sha256_digest(const void *data, size_t n, uint8_t digest[32], us_err *err);
/* Lower-case hex of a digest into hex[65] (NUL-terminated). */
void us_sha256_hex(const uint8_t digest[32], char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
