/* test.h — usersim's test harness. A test file defines cases with TEST(name) { ... } and checks
 * with CHECK / CHECK_EQ_INT / ...; every case registers itself before main, and tests/runner.c
 * runs them all (or those whose name contains argv[1]), prints one line per case, failures with
 * file:line, and ends with "N passed, N failed".
 *
 *   TEST(rng_bounded_in_range) {
 *       us_rng r; us_rng_seed(&r, 1, 2);
 *       for (int i = 0; i < 1000; i++) CHECK(us_rng_bounded(&r, 7) < 7);
 *   }
 *
 * A check that fails marks the case failed and continues; REQUIRE stops the case. SKIP(why)
 * ends the case as skipped, with the reason printed.
 */
#ifndef USERSIM_TEST_H
#define USERSIM_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct us_test_ctx {
    int failed;
    int skipped;
    char skip_why[256];
} us_test_ctx;

typedef void (*us_test_fn)(us_test_ctx *t_);
void us_test_register(const char *name, const char *file, us_test_fn fn);
void us_test_fail(us_test_ctx *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Temporary folder for this test case, created fresh and removed after the case when it passed
 * (kept for inspection when it failed). Returns a path borrowed from the runner. */
const char *us_test_tmpdir(void);
/* Writes `len` bytes to tmpdir/name and returns the full path (static buffer, one per call
 * slot: up to 8 live paths). len < 0 means strlen(data). */
const char *us_test_write(const char *name, const char *data, long len);
/* The path of tmpdir/name (same slots as us_test_write). */
const char *us_test_path(const char *name);

#define TEST(name)                                                                         \
    static void test_##name(us_test_ctx *t_);                                              \
    __attribute__((constructor)) static void test_reg_##name(void) {                       \
        us_test_register(#name, __FILE__, test_##name);                                    \
    }                                                                                      \
    static void test_##name(us_test_ctx *t_)

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) us_test_fail(t_, __FILE__, __LINE__, "CHECK(%s)", #cond);             \
    } while (0)
#define REQUIRE(cond)                                                                      \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            us_test_fail(t_, __FILE__, __LINE__, "REQUIRE(%s)", #cond);                    \
            return;                                                                        \
        }                                                                                  \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                 \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ != b_)                                                                      \
            us_test_fail(t_, __FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)
#define CHECK_EQ_U64(a, b)                                                                 \
    do {                                                                                   \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
        if (a_ != b_)                                                                      \
            us_test_fail(t_, __FILE__, __LINE__, "%s == %s: 0x%llx != 0x%llx", #a, #b, a_, \
                         b_);                                                              \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                              \
    do {                                                                                   \
        double a_ = (double)(a), b_ = (double)(b), tol_ = (double)(tol);                   \
        if (!(a_ - b_ <= tol_ && b_ - a_ <= tol_))                                         \
            us_test_fail(t_, __FILE__, __LINE__, "%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, \
                         a_, b_, tol_);                                                    \
    } while (0)
#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *a_ = (a), *b_ = (b);                                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
            us_test_fail(t_, __FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,     \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                          \
    } while (0)
/* The status is US_OK; on failure prints the us_err `e` as well. */
#define CHECK_OK(st, e)                                                                    \
    do {                                                                                   \
        int st_ = (int)(st);                                                               \
        if (st_ != 0) {                                                                    \
            char b_[1024];                                                                 \
            us_test_fail(t_, __FILE__, __LINE__, "%s returned %d: %s", #st, st_,           \
                         us_err_str(&(e), b_, sizeof b_));                                 \
        }                                                                                  \
    } while (0)
/* The call failed with `code` and its formatted us_err `e` contains `needle`; on failure prints
 * both the status and the message got. */
#define CHECK_ERR(st, e, code, needle)                                                     \
    do {                                                                                   \
        int st2_ = (int)(st);                                                              \
        char b2_[1024];                                                                    \
        us_err_str(&(e), b2_, sizeof b2_);                                                 \
        if (st2_ != (int)(code) || !strstr(b2_, (needle)))                                 \
            us_test_fail(t_, __FILE__, __LINE__, "%s: got %d \"%s\", expected %d with \"%s\"", \
                         #st, st2_, b2_, (int)(code), (needle));                           \
    } while (0)
#define SKIP(why)                                                                          \
    do {                                                                                   \
        t_->skipped = 1;                                                                   \
        snprintf(t_->skip_why, sizeof t_->skip_why, "%s", (why));                          \
        return;                                                                            \
    } while (0)

#endif
