/* runner.c — collects the TEST cases of every test file, runs them in order of registration
 * (or only those whose name contains argv[1]), and ends with "N passed, N failed". Each case gets
 * a fresh temporary folder, removed when it passes. Exits 1 when any case failed. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/test.h"

typedef struct {
    const char *name, *file;
    us_test_fn fn;
} test_entry;

static test_entry *g_tests;
static size_t g_ntests, g_cap;
static char g_root[512], g_dir[1024];
static char g_paths[8][1280];
static int g_slot;

void us_test_register(const char *name, const char *file, us_test_fn fn) {
    if (g_ntests == g_cap) {
        g_cap = g_cap ? 2 * g_cap : 64;
        g_tests = realloc(g_tests, g_cap * sizeof *g_tests);
        if (!g_tests) abort();
    }
    g_tests[g_ntests++] = (test_entry){name, file, fn};
}

void us_test_fail(us_test_ctx *t, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "    %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    t->failed++;
}

const char *us_test_tmpdir(void) { return g_dir; }

const char *us_test_path(const char *name) {
    char *p = g_paths[g_slot++ % 8];
    snprintf(p, sizeof g_paths[0], "%s/%s", g_dir, name);
    return p;
}

const char *us_test_write(const char *name, const char *data, long len) {
    const char *p = us_test_path(name);
    FILE *f = fopen(p, "wb");
    if (!f) return NULL;
    size_t n = len < 0 ? strlen(data) : (size_t)len;
    if (fwrite(data, 1, n, f) != n) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/usersim-tests-%ld", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());
    rm_tree(g_root);
    if (mkdir(g_root, 0700) != 0) {
        perror(g_root);
        return 1;
    }
    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < g_ntests; i++) {
        test_entry *e = &g_tests[i];
        if (filter && !strstr(e->name, filter)) continue;
        snprintf(g_dir, sizeof g_dir, "%s/%s", g_root, e->name);
        mkdir(g_dir, 0700);
        us_test_ctx ctx = {0};
        fflush(stdout);
        e->fn(&ctx);
        if (ctx.failed) {
            printf("FAIL %s (%s)\n", e->name, e->file);
            printf("    files kept in %s\n", g_dir);
            failed++;
        } else if (ctx.skipped) {
            printf("skip %s: %s\n", e->name, ctx.skip_why);
            skipped++;
            rm_tree(g_dir);
        } else {
            printf("ok   %s\n", e->name);
            passed++;
            rm_tree(g_dir);
        }
        fflush(stdout);
    }
    if (!failed) rm_tree(g_root);
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    free(g_tests);
    return failed ? 1 : 0;
}
