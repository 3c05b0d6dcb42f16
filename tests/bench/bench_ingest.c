/* bench_ingest — ingest throughput and memory, reported against references measured in the
 * same run on the same machine:
 *   - throughput of `usersim ingest` on plain Amazon JSON lines, as MB/s and as a ratio to a
 *     bare line scan (read + newline search) and to a cJSON parse of the same file;
 *   - the same on the gzip file;
 *   - peak memory (max RSS of a child process) for the file, and for a copy with 2,000 more
 *     bytes of text in every review: memory should follow users, items and interactions, not
 *     the size of the text.
 * Data: `usersim synth` output; sizes from the environment: BENCH_USERS (default 20000),
 * BENCH_ITEMS (5000), BENCH_REVIEWS (300000). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets/internal.h"

static uint64_t env_u64(const char *name, uint64_t dflt) {
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : dflt;
}

static void die(const char *what, const us_err *e) {
    char b[1200];
    fprintf(stderr, "bench_ingest: %s: %s\n", what, e ? us_err_str(e, b, sizeof b) : "");
    exit(1);
}

/* Decompresses src into dst; with pad > 0, inserts pad bytes of text at the start of every
 * reviewText. Returns the bytes written. */
static uint64_t unpack(const char *src, const char *dst, size_t pad) {
    us_lines *l;
    us_err e;
    if (us_lines_open(&l, src, &e) != US_OK) die("open", &e);
    FILE *f = fopen(dst, "wb");
    if (!f) die(dst, NULL);
    char *padding = malloc(pad + 1);
    for (size_t i = 0; i < pad; i++) padding[i] = "lorem ipsum dolor sit amet "[i % 27];
    padding[pad] = '\0';
    char *line;
    size_t len;
    uint64_t out = 0;
    const char *key = "\"reviewText\": \"";
    while (us_lines_next(l, &line, &len, &e) == 1) {
        char *at = pad ? strstr(line, key) : NULL;
        if (at) {
            size_t head = (size_t)(at - line) + strlen(key);
            fwrite(line, 1, head, f);
            fwrite(padding, 1, pad, f);
            fwrite(line + head, 1, len - head, f);
            out += pad;
        } else {
            fwrite(line, 1, len, f);
        }
        fputc('\n', f);
        out += len + 1;
    }
    us_lines_close(l);
    fclose(f);
    free(padding);
    return out;
}

/* Reference 1: read every line (newline search only). */
static double scan_seconds(const char *path) {
    double t0 = us_now();
    us_lines *l;
    us_err e;
    if (us_lines_open(&l, path, &e) != US_OK) die("open", &e);
    char *line;
    size_t len, sum = 0;
    while (us_lines_next(l, &line, &len, &e) == 1) sum += len;
    us_lines_close(l);
    if (sum == 0) die("empty input", NULL);
    return us_now() - t0;
}

/* Reference 2: read every line and parse it with cJSON (what any JSON-lines reader must do). */
static double cjson_seconds(const char *path) {
    double t0 = us_now();
    us_lines *l;
    us_err e;
    if (us_lines_open(&l, path, &e) != US_OK) die("open", &e);
    char *line;
    size_t len, n = 0;
    while (us_lines_next(l, &line, &len, &e) == 1) {
        cJSON *j = cJSON_ParseWithLength(line, len);
        n += j != NULL;
        cJSON_Delete(j);
    }
    us_lines_close(l);
    if (n == 0) die("no JSON", NULL);
    return us_now() - t0;
}

/* Runs one ingest in a child process; returns its wall time and peak RSS (KiB). */
static double ingest_child(const char *reviews, const char *meta, const char *out, long *rss_kb) {
    double t0 = us_now();
    pid_t pid = fork();
    if (pid == 0) {
        us_ingest_config c = us_ingest_config_default();
        c.format = US_FORMAT_AMAZON;
        c.reviews_path = reviews;
        c.meta_path = meta;
        c.out_path = out;
        c.quiet = 1;
        us_err e;
        if (us_ingest(&c, NULL, &e) != US_OK) die("ingest", &e);
        _exit(0);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("ingest child failed", NULL);
    *rss_kb = ru.ru_maxrss;
    return us_now() - t0;
}

int main(void) {
    char dir[] = "/tmp/usersim-bench-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp", NULL);
    us_synth_config sc = us_synth_config_default();
    sc.out_dir = dir;
    sc.users = (uint32_t)env_u64("BENCH_USERS", 20000);
    sc.items = (uint32_t)env_u64("BENCH_ITEMS", 5000);
    sc.reviews = env_u64("BENCH_REVIEWS", 300000);
    sc.quiet = 1;
    us_synth_report sr;
    us_err e;
    printf("bench_ingest: generating %u users, %u items, %llu reviews\n", sc.users, sc.items,
           (unsigned long long)sc.reviews);
    fflush(stdout);
    if (us_synth(&sc, &sr, &e) != US_OK) die("synth", &e);

    char plain[1200], padded[1200], store[1200];
    snprintf(plain, sizeof plain, "%s/reviews.json", dir);
    snprintf(padded, sizeof padded, "%s/reviews_long.json", dir);
    snprintf(store, sizeof store, "%s/bench.usdb", dir);
    uint64_t bytes = unpack(sr.reviews_path, plain, 0);
    uint64_t long_bytes = unpack(sr.reviews_path, padded, 2000);
    double mb = (double)bytes / 1e6;

    /* Flush the inputs just written, so their write-back does not land inside a measurement,
     * and warm the page cache so every run reads from memory alike. Each figure is the best of
     * three runs: the machine is shared, and the minimum is the least disturbed. */
    sync();
    scan_seconds(plain);
    double t_scan = 1e30, t_json = 1e30, t_plain = 1e30, t_gz = 1e30, t_long = 1e30;
    long rss = 0, rss_long = 0, r;
    for (int rep = 0; rep < 3; rep++) {
        double t;
        if ((t = scan_seconds(plain)) < t_scan) t_scan = t;
        if ((t = cjson_seconds(plain)) < t_json) t_json = t;
        if ((t = ingest_child(plain, NULL, store, &r)) < t_plain) t_plain = t;
        if (r > rss) rss = r;
        if ((t = ingest_child(sr.reviews_path, NULL, store, &r)) < t_gz) t_gz = t;
        if ((t = ingest_child(padded, NULL, store, &r)) < t_long) t_long = t;
        if (r > rss_long) rss_long = r;
    }

    printf("bench_ingest: plain JSON lines, %.1f MB, %llu reviews\n", mb,
           (unsigned long long)sr.reviews);
    printf("  line scan (reference)       %8.1f MB/s\n", mb / t_scan);
    printf("  cJSON parse (reference)     %8.1f MB/s\n", mb / t_json);
    printf("  ingest, plain               %8.1f MB/s  = %.3f x line scan, %.2f x cJSON parse\n",
           mb / t_plain, t_scan / t_plain, t_json / t_plain);
    printf("  ingest, gzip                %8.1f MB/s of decompressed JSON\n", mb / t_gz);
    printf("  ingest, +2000 B text/review %8.1f MB/s (%.1f MB)\n",
           (double)long_bytes / 1e6 / t_long,
           (double)long_bytes / 1e6);
    printf("  peak RSS                    %8.1f MiB; with +2000 B text/review %.1f MiB "
           "(input %.1f vs %.1f MB)\n",
           rss / 1024.0, rss_long / 1024.0, mb, (double)long_bytes / 1e6);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_ingest: could not remove %s\n", dir);
    return 0;
}
