/* Nothing lost, nothing falsely complete: one writer per store at a time (the writer lock,
 * taken by every command that writes a store), unique temporary files, an output that is one
 * of the inputs refused, and paths that SQLite could read as URIs kept plain paths. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/internal.h"
#include "tests/cli.h"
#include "tests/test.h"

static const char reviews_2018[] =
    "{\"overall\": 5.0, \"reviewerID\": \"U1\", \"asin\": \"I1\", \"reviewText\": \"good\", "
    "\"unixReviewTime\": 1400000000}\n"
    "{\"overall\": 2.0, \"reviewerID\": \"U1\", \"asin\": \"I2\", \"reviewText\": \"bad\", "
    "\"unixReviewTime\": 1400000100}\n"
    "{\"overall\": 4.0, \"reviewerID\": \"U2\", \"asin\": \"I1\", \"reviewText\": \"fine\", "
    "\"unixReviewTime\": 1400000200}\n";

/* The whole file at path (static buffer; "" when missing). */
static const char *slurp_path(const char *path, size_t *n) {
    static char buf[1 << 16];
    *n = 0;
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return buf;
    *n = fread(buf, 1, sizeof buf - 1, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

/* How many entries of the test's folder start with prefix. */
static int count_prefixed(const char *prefix) {
    DIR *d = opendir(us_test_tmpdir());
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (!strncmp(de->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

static us_status ingest_amazon(const char *reviews, const char *out, us_err *e) {
    us_ingest_config c = us_ingest_config_default();
    c.format = US_FORMAT_AMAZON;
    c.reviews_path = reviews;
    c.out_path = out;
    c.quiet = 1;
    return us_ingest(&c, NULL, e);
}

/* While another process holds a store's writer lock, every command that writes the store is
 * refused at once, with the holder's pid, and the store is left as it was. */
TEST(store_lock_refuses_every_second_writer) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char in[1024], store[1024], lockfile[1100];
    snprintf(in, sizeof in, "%s", us_test_write("r.json", reviews_2018, -1));
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    snprintf(lockfile, sizeof lockfile, "%s.lock", store);
    us_err e;
    CHECK_OK(ingest_amazon(in, store, &e), e);
    size_t n0;
    const char *b0 = slurp_path(store, &n0);
    char *before = malloc(n0 + 1);
    REQUIRE(before);
    memcpy(before, b0, n0);

    /* The holder is a child process, so the commands below meet a lock of another process. */
    int to_child[2], from_child[2];
    REQUIRE(pipe(to_child) == 0 && pipe(from_child) == 0);
    pid_t holder = fork();
    if (holder == 0) {
        close(to_child[1]);
        close(from_child[0]);
        us_store_lock *lk;
        us_err ce;
        char c = us_store_lock_acquire(store, &lk, &ce) == US_OK ? 'y' : 'n';
        if (write(from_child[1], &c, 1) != 1) _exit(2);
        if (read(to_child[0], &c, 1) < 0) _exit(2); /* until the parent closes its end */
        us_store_lock_release(lk);
        _exit(0);
    }
    REQUIRE(holder > 0);
    close(to_child[0]);
    close(from_child[1]);
    char got = 0;
    REQUIRE(read(from_child[0], &got, 1) == 1);
    CHECK(got == 'y');
    char want[64];
    snprintf(want, sizeof want, "(pid %ld)", (long)holder);

    const char *ingest[] = {"ingest", "--format", "amazon", "--reviews", in, "--out", store,
                            NULL};
    const char *extract[] = {"extract", store, "--builtin", NULL};
    const char *embed[] = {"embed", store, "--hashed", NULL};
    const char *train[] = {"train-sasrec", store, "--epochs", "1", NULL};
    const char *build[] = {"build", store, "--hashed", "--epochs", "1", NULL};
    const char *const *cmds[] = {ingest, extract, embed, train, build};
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        int rc = us_test_cli(cmds[i], name);
        const char *out = us_test_slurp(name);
        if (rc == 0 || !strstr(out, "another usersim is writing") || !strstr(out, want))
            us_test_fail(t_, __FILE__, __LINE__, "%s: exit %d, expected a refusal naming %s: %s",
                         cmds[i][0], rc, want, out);
    }
    size_t n1;
    const char *after = slurp_path(store, &n1);
    CHECK(n1 == n0 && memcmp(after, before, n0) == 0);
    CHECK_EQ_INT(count_prefixed("s.usdb.tmp"), 0);

    close(to_child[1]);
    close(from_child[0]);
    int status;
    waitpid(holder, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Released: the next writer goes ahead, and leaves no lock file behind. */
    CHECK_EQ_INT(us_test_cli(ingest, "o9"), 0);
    CHECK(access(lockfile, F_OK) != 0);
    free(before);
}

/* The lock nests in the thread that holds it, is refused to other processes, and dies with a
 * holder that exits without releasing it. */
TEST(store_lock_nests_and_dies_with_its_process) {
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("x.usdb"));
    us_store_lock *a, *b;
    us_err e;
    CHECK_OK(us_store_lock_acquire(store, &a, &e), e);
    CHECK_OK(us_store_lock_acquire(store, &b, &e), e);
    pid_t child = fork();
    if (child == 0) {
        us_store_lock *c;
        us_err ce;
        us_status st = us_store_lock_acquire(store, &c, &ce);
        char want[64];
        snprintf(want, sizeof want, "(pid %ld)", (long)getppid());
        _exit(st == US_EIO && strstr(ce.msg, want) ? 0 : 1);
    }
    int status;
    REQUIRE(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    us_store_lock_release(b);
    /* Still held after one of two releases. */
    child = fork();
    if (child == 0) {
        us_store_lock *c;
        us_err ce;
        _exit(us_store_lock_acquire(store, &c, &ce) == US_EIO ? 0 : 1);
    }
    REQUIRE(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    us_store_lock_release(a);

    /* A holder that dies holding the lock leaves its lock file, but not its lock. */
    child = fork();
    if (child == 0) {
        us_store_lock *c;
        us_err ce;
        _exit(us_store_lock_acquire(store, &c, &ce) == US_OK ? 0 : 1);
    }
    REQUIRE(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(access(us_test_path("x.usdb.lock"), F_OK) == 0);
    CHECK_OK(us_store_lock_acquire(store, &a, &e), e);
    us_store_lock_release(a);
    CHECK(access(us_test_path("x.usdb.lock"), F_OK) != 0);
    us_store_lock_release(NULL);
}

/* --out naming an input (the same file, under its name or another) is refused before anything
 * is written, and the input is left as it was. */
TEST(ingest_refuses_output_that_is_an_input) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    const char data[] = "1\t10\t5\t881250949\n1\t11\t3\t881250950\n2\t10\t4\t881250951\n";
    char in[1024], meta[1024], alias[1024], store[1024];
    snprintf(in, sizeof in, "%s", us_test_write("u.data", data, -1));
    snprintf(meta, sizeof meta, "%s",
             us_test_write("u.item", "10|A (1995)|01-Jan-1995||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|"
                                     "0|0|0|0|1\n", -1));
    snprintf(alias, sizeof alias, "%s", us_test_path("alias.usdb"));
    snprintf(store, sizeof store, "%s", us_test_path("ok.usdb"));
    REQUIRE(link(in, alias) == 0);
    const char *same[] = {"ingest", "--format", "movielens", "--reviews", in, "--out", in, NULL};
    const char *linked[] = {"ingest", "--format", "movielens", "--reviews", in, "--out", alias,
                            NULL};
    const char *as_meta[] = {"ingest", "--format", "movielens", "--reviews", in, "--meta", meta,
                             "--out", meta, NULL};
    const char *const *cmds[] = {same, linked, as_meta};
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        int rc = us_test_cli(cmds[i], name);
        const char *out = us_test_slurp(name);
        if (rc == 0 || !strstr(out, "--out"))
            us_test_fail(t_, __FILE__, __LINE__, "case %d: exit %d, expected --out refused: %s",
                         i, rc, out);
    }
    size_t n;
    CHECK_STR(slurp_path(in, &n), data);
    CHECK(strstr(slurp_path(meta, &n), "A (1995)") != NULL);
    const char *ok[] = {"ingest", "--format", "movielens", "--reviews", in, "--out", store, NULL};
    CHECK_EQ_INT(us_test_cli(ok, "o9"), 0);
}

/* An output path that starts with "file:" is a file of that name, not an SQLite URI; nothing
 * else is left beside it. */
TEST(ingest_out_path_is_never_a_uri) {
    char in[1024], cwd[PATH_MAX];
    snprintf(in, sizeof in, "%s", us_test_write("r.json", reviews_2018, -1));
    REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
    REQUIRE(chdir(us_test_tmpdir()) == 0);
    us_err e;
    us_status st = ingest_amazon(in, "file:abc.usdb", &e);
    us_store_stats s;
    us_err e2;
    us_status st2 = us_store_stats_read("file:abc.usdb", &s, &e2);
    REQUIRE(chdir(cwd) == 0);
    CHECK_OK(st, e);
    CHECK_OK(st2, e2);
    CHECK_EQ_INT(s.interactions, 3);
    CHECK(access(us_test_path("file:abc.usdb"), F_OK) == 0);
    CHECK_EQ_INT(count_prefixed("abc.usdb"), 0);
    CHECK_EQ_INT(count_prefixed("file:abc.usdb."), 0);
}

/* A reviews file whose first line never ends before US_MAX_LINE (a sparse file of NUL bytes,
 * the way /dev/zero reads) stops the ingest with an error naming the file, the line and the
 * byte offset, and writes no store. */
TEST(ingest_line_over_the_limit_is_an_error) {
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s", us_test_path("zeros.json"));
    snprintf(out, sizeof out, "%s", us_test_path("z.usdb"));
    int fd = open(in, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, (off_t)US_MAX_LINE + 4096) == 0);
    close(fd);
    us_err e;
    char where[1100];
    snprintf(where, sizeof where, "%s:1: ", in);
    CHECK_ERR(ingest_amazon(in, out, &e), e, US_EFORMAT, where);
    CHECK(strstr(e.msg, "starting at byte offset 0") != NULL);
    CHECK(access(out, F_OK) != 0);
    CHECK_EQ_INT(count_prefixed("z.usdb"), 0);
}
