/* test_core.c — errors (formatting, truncation, the assertion), logging, the progress bar on
 * and off a terminal, and growable arrays. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "tests/test.h"

TEST(err_str_formats) {
    us_err e;
    char buf[1024];
    us_err_clear(&e);
    CHECK_EQ_INT(e.code, US_OK);
    CHECK_STR(us_err_str(&e, buf, sizeof buf), "ok");

    CHECK_EQ_INT(us_err_set(&e, US_EFORMAT, "data.json", 12, "rating",
                            "expected %s, found \"%s\"", "a number", "abc"),
                 US_EFORMAT);
    CHECK_STR(us_err_str(&e, buf, sizeof buf),
              "data.json:12: rating: expected a number, found \"abc\"");

    us_err_set(&e, US_EFORMAT, "data.json", 12, NULL, "bad line");
    CHECK_STR(us_err_str(&e, buf, sizeof buf), "data.json:12: bad line");
    us_err_set(&e, US_EIO, "data.json", 0, NULL, "cannot open");
    CHECK_STR(us_err_str(&e, buf, sizeof buf), "data.json: cannot open");
    us_err_set(&e, US_EFORMAT, "data.json", 0, "asin", "missing");
    CHECK_STR(us_err_str(&e, buf, sizeof buf), "data.json: asin: missing");
    us_err_set(&e, US_EINVAL, NULL, 0, "--seed", "expected an integer");
    CHECK_STR(us_err_str(&e, buf, sizeof buf), "--seed: expected an integer");
    us_err_set(&e, US_EINVAL, NULL, 7, NULL, "no file, so no line either");
    CHECK_STR(us_err_str(&e, buf, sizeof buf), "no file, so no line either");
    us_err_set(&e, US_ENOMEM, "", 3, "", NULL);
    CHECK_STR(us_err_str(&e, buf, sizeof buf), "out of memory");
    CHECK_EQ_INT(e.line, 3);

    /* Wrapping an error with more context, passing its own fields back in. */
    us_err_set(&e, US_EFORMAT, NULL, 0, "rating", "expected a number");
    us_err_set(&e, e.code, "reviews.json", 9, e.field, "%s (record %d)", e.msg, 4);
    CHECK_STR(us_err_str(&e, buf, sizeof buf),
              "reviews.json:9: rating: expected a number (record 4)");

    us_err_clear(&e);
    CHECK_EQ_INT(e.code, US_OK);
    CHECK_STR(e.file, "");
    CHECK_STR(e.msg, "");
    us_err_clear(NULL);
    CHECK_EQ_INT(us_err_set(NULL, US_EIO, "f", 1, "x", "y"), US_EIO);
}

TEST(err_truncates_safely) {
    us_err e;
    char longname[1000], longmsg[2000], buf[16];
    memset(longname, 'f', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    us_err_set(&e, US_EFORMAT, longname, 5, longname, "%s", longmsg);
    CHECK_EQ_INT(strlen(e.file), sizeof e.file - 1);
    CHECK_EQ_INT(strlen(e.field), sizeof e.field - 1);
    CHECK_EQ_INT(strlen(e.msg), sizeof e.msg - 1);
    /* A small output buffer gets a terminated prefix. */
    us_err_set(&e, US_EFORMAT, "abcdefgh.json", 123456, "field", "message");
    CHECK_STR(us_err_str(&e, buf, sizeof buf), "abcdefgh.json:1");
    CHECK_STR(us_err_str(&e, buf, 1), "");
    char big[2048];
    us_err_set(&e, US_EFORMAT, longname, 5, longname, "%s", longmsg);
    us_err_str(&e, big, sizeof big);
    CHECK_EQ_INT(strlen(big), 255 + 4 + 63 + 2 + 511); /* "file:5: field: msg" */
}

TEST(err_status_names) {
    const us_status all[] = {US_OK,     US_EINVAL, US_EIO,       US_EFORMAT,
                             US_ENOMEM, US_EDB,    US_ENOTFOUND, US_EEMPTY};
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        const char *a = us_status_name(all[i]);
        CHECK(a && a[0]);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(a, us_status_name(all[j])) != 0);
    }
    CHECK_STR(us_status_name(US_OK), "ok");
    CHECK_STR(us_status_name(US_EFORMAT), "bad format");
    CHECK_STR(us_status_name((us_status)-99), "unknown status");
}

TEST(err_assert_aborts_with_message) {
    int fd[2];
    REQUIRE(pipe(fd) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        int x = 1;
        US_ASSERT(x == 2);
        _exit(0); /* not reached when the assertion works */
    }
    close(fd[1]);
    char out[512] = {0};
    size_t got = 0;
    ssize_t k;
    while (got < sizeof out - 1 && (k = read(fd[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)k;
    close(fd[0]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(out, "usersim: assertion failed: x == 2 (") != NULL);
    CHECK(strstr(out, "test_core.c:") != NULL);
}

/* Reads the whole of f (from the start) into a malloc'd NUL-terminated string. */
static char *slurp(FILE *f) {
    long n;
    if (fflush(f) != 0 || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) return NULL;
    rewind(f);
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    return s;
}

static int count_char(const char *s, char c) {
    int k = 0;
    for (; *s; s++) k += *s == c;
    return k;
}

TEST(log_levels_and_format) {
    FILE *f = tmpfile();
    REQUIRE(f);
    us_log log = {f, US_LOG_INFO};
    us_logf(&log, US_LOG_INFO, "loaded %d items", 42);
    us_logf(&log, US_LOG_DEBUG, "not shown");
    us_logf(&log, US_LOG_ERROR, "trailing newline is not doubled\n");
    char longmsg[3000];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    us_logf(&log, US_LOG_WARN, "%s", longmsg);
    char *s = slurp(f);
    REQUIRE(s);
    const char *want = "usersim: info: loaded 42 items\n"
                       "usersim: error: trailing newline is not doubled\n"
                       "usersim: warning: ";
    CHECK(strncmp(s, want, strlen(want)) == 0);
    CHECK(strstr(s, "not shown") == NULL);
    CHECK_EQ_INT(strlen(s), strlen(want) + sizeof longmsg - 1 + 1);
    free(s);
    fclose(f);
}

TEST(progress_plain_off_tty) {
    FILE *f = tmpfile();
    REQUIRE(f);
    us_progress p;
    us_progress_begin(&p, f, "ingest", "lines", 100000, 0);
    CHECK_EQ_INT(p.tty, 0);
    for (uint64_t i = 1; i <= 100000; i++) us_progress_set(&p, i);
    us_progress_end(&p);
    char *s = slurp(f);
    REQUIRE(s);
    CHECK(strchr(s, '\r') == NULL);
    CHECK(strchr(s, '\033') == NULL);
    int lines = count_char(s, '\n');
    CHECK(lines >= 1 && lines <= 3);
    CHECK(s[0] && s[strlen(s) - 1] == '\n');
    /* The last line carries the final count, the percentage and the elapsed time. */
    char *last = s + strlen(s) - 1;
    while (last > s && last[-1] != '\n') last--;
    CHECK(strncmp(last, "ingest  100,000/100,000 lines  100.0%", 37) == 0);
    CHECK(strstr(last, "lines/s") != NULL);
    CHECK(strstr(last, "done in") != NULL);
    free(s);
    fclose(f);
}

TEST(progress_plain_every_and_unknown_total) {
    /* With plain_every near zero every update prints its own plain line; without a total
     * there is no percentage and no ETA. */
    FILE *f = tmpfile();
    REQUIRE(f);
    us_progress p;
    us_progress_begin(&p, f, "scan", "MB", 0, 0);
    p.plain_every = 1e-12;
    for (uint64_t i = 1; i <= 5; i++) {
        double t = us_now();
        while (us_now() == t) {
        }
        us_progress_set(&p, i * 1234567);
    }
    us_progress_end(&p);
    char *s = slurp(f);
    REQUIRE(s);
    CHECK_EQ_INT(count_char(s, '\n'), 6);
    CHECK(strchr(s, '\r') == NULL);
    CHECK(strchr(s, '%') == NULL);
    CHECK(strstr(s, "ETA") == NULL);
    CHECK(strncmp(s, "scan  1,234,567 MB  ", 20) == 0);
    CHECK(strstr(s, "scan  6,172,835 MB  ") != NULL);
    free(s);
    fclose(f);
}

TEST(progress_tty_redraws_in_place) {
    /* Force the terminal face on a file to see exactly what a terminal would get. */
    FILE *f = tmpfile();
    REQUIRE(f);
    us_progress p;
    us_progress_begin(&p, f, "train", "steps", 1000, 0);
    p.tty = 1;
    p.t_last -= 1.0; /* let the first update draw at once */
    us_progress_set(&p, 250);
    us_progress_end(&p);
    char *s = slurp(f);
    REQUIRE(s);
    CHECK(s[0] == '\r');
    CHECK_EQ_INT(count_char(s, '\n'), 1);
    CHECK(s[strlen(s) - 1] == '\n');
    CHECK(strstr(s, "\rtrain  250/1,000 steps  25.0%  ") != NULL);
    CHECK(strstr(s, "ETA ") != NULL);
    CHECK(strstr(s, "\rtrain  250/1,000 steps  25.0%") < strstr(s, "done in"));
    free(s);
    fclose(f);
}

TEST(progress_quiet_draws_nothing) {
    FILE *f = tmpfile();
    REQUIRE(f);
    us_progress p;
    us_progress_begin(&p, f, "quiet", "lines", 10, 1);
    p.plain_every = 1e-12;
    for (uint64_t i = 0; i < 10; i++) us_progress_set(&p, i);
    us_progress_end(&p);
    CHECK_EQ_INT(p.done, 9);
    fflush(f);
    CHECK_EQ_INT(ftell(f), 0);
    fclose(f);
}

TEST(vec_grow_and_push) {
    US_VEC(uint32_t) v = {0};
    for (uint32_t i = 0; i < 100000; i++) REQUIRE(us_vec_push(&v, i * 3u) == US_OK);
    CHECK_EQ_INT(v.len, 100000);
    CHECK(v.cap >= v.len);
    int bad = 0;
    for (uint32_t i = 0; i < 100000; i++) bad += v.data[i] != i * 3u;
    CHECK_EQ_INT(bad, 0);
    free(v.data);

    /* us_grow: no-op when there is room, geometric otherwise, contents kept. */
    double *d = NULL;
    size_t cap = 0;
    REQUIRE(us_grow((void **)&d, &cap, 5, sizeof *d) == US_OK);
    CHECK(cap >= 5);
    for (size_t i = 0; i < 5; i++) d[i] = (double)i + 0.5;
    double *before = d;
    size_t cap0 = cap;
    CHECK(us_grow((void **)&d, &cap, cap0, sizeof *d) == US_OK);
    CHECK(d == before && cap == cap0);
    CHECK(us_grow((void **)&d, &cap, cap0 + 1, sizeof *d) == US_OK);
    CHECK(cap >= cap0 + cap0 / 2);
    for (size_t i = 0; i < 5; i++) CHECK(d[i] == (double)i + 0.5);

    /* A size that cannot be addressed fails without touching the array. */
    before = d;
    size_t cap1 = cap;
    CHECK_EQ_INT(us_grow((void **)&d, &cap, SIZE_MAX / 4, sizeof *d), US_ENOMEM);
    CHECK(d == before && cap == cap1);
    CHECK(d[4] == 4.5);
    free(d);
}

/* ---- thread pool ---- */

typedef struct pool_ctx {
    int calls[8]; /* per worker: runs seen */
    long sum[8];  /* per worker: its slice of 0..999 summed */
    int n;
} pool_ctx;

static void pool_work(void *p, int r) {
    pool_ctx *c = p;
    c->calls[r]++;
    for (int i = 1000 * r / c->n; i < 1000 * (r + 1) / c->n; i++) c->sum[r] += i;
}

TEST(pool_runs_every_worker_once_per_run) {
    for (int n = 1; n <= 8; n *= 2) {
        pool_ctx c = {.n = n};
        us_pool *p;
        us_err e;
        CHECK_OK(us_pool_init(&p, n, pool_work, &c, &e), e);
        CHECK_EQ_INT(us_pool_threads(p), n);
        for (int run = 0; run < 100; run++) us_pool_run(p);
        us_pool_free(p);
        long total = 0;
        for (int r = 0; r < n; r++) {
            CHECK_EQ_INT(c.calls[r], 100);
            total += c.sum[r];
        }
        CHECK_EQ_INT(total, 100L * 999 * 1000 / 2);
    }
    us_pool *p = NULL;
    us_err e;
    CHECK(us_pool_init(&p, 0, pool_work, NULL, &e) == US_EINVAL);
    CHECK(p == NULL);
    us_pool_free(NULL);
}
