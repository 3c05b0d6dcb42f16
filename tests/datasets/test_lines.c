/* Line reader: plain and gzip input, line endings, multi-member gzip, truncated and corrupt
 * streams, very long lines, and the checksum of the raw bytes. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "datasets/internal.h"
#include "tests/test.h"

/* Writes data gzip-compressed to path, as `members` concatenated gzip members. */
static int write_gz(const char *path, const char *data, size_t n, int members) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t per = (n + (size_t)members - 1) / (size_t)members;
    for (size_t off = 0; off < n || (n == 0 && off == 0); off += per) {
        size_t len = n - off < per ? n - off : per;
        uLong cap = compressBound(len) + 64;
        unsigned char *out = malloc(cap);
        z_stream zs = {0};
        deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        zs.next_in = (Bytef *)(data + off);
        zs.avail_in = (uInt)len;
        zs.next_out = out;
        zs.avail_out = (uInt)cap;
        deflate(&zs, Z_FINISH);
        fwrite(out, 1, cap - zs.avail_out, f);
        deflateEnd(&zs);
        free(out);
        if (n == 0) break;
    }
    fclose(f);
    return 0;
}

/* Reads every line of path into one string joined by '|'; returns the us_lines_next status
 * that ended the read (0 at a clean end). */
static int read_all(const char *path, char *joined, size_t cap, long *nlines, us_err *err) {
    us_lines *l;
    if (us_lines_open(&l, path, err) != US_OK) return -100;
    char *line;
    size_t len, o = 0;
    int got;
    *nlines = 0;
    joined[0] = '\0';
    while ((got = us_lines_next(l, &line, &len, err)) == 1) {
        (*nlines)++;
        if (o + len + 2 < cap) {
            if (o) joined[o++] = '|';
            memcpy(joined + o, line ? line : "<long>", line ? len : 6);
            o += line ? len : 6;
            joined[o] = '\0';
        }
    }
    us_lines_close(l);
    return got;
}

TEST(lines_plain_endings) {
    const char *p = us_test_write("a.txt", "one\r\ntwo\n\nthree", -1);
    char buf[256];
    long n;
    us_err e;
    CHECK_EQ_INT(read_all(p, buf, sizeof buf, &n, &e), 0);
    CHECK_EQ_INT(n, 4);
    CHECK_STR(buf, "one|two||three");
}

TEST(lines_empty_file) {
    const char *p = us_test_write("empty.txt", "", 0);
    char buf[16];
    long n;
    us_err e;
    CHECK_EQ_INT(read_all(p, buf, sizeof buf, &n, &e), 0);
    CHECK_EQ_INT(n, 0);
}

TEST(lines_missing_file_names_it) {
    us_lines *l;
    us_err e;
    CHECK_EQ_INT(us_lines_open(&l, "/nonexistent/reviews.json", &e), US_ENOTFOUND);
    CHECK_STR(e.file, "/nonexistent/reviews.json");
}

TEST(lines_gzip_members_and_checksum) {
    char data[4000];
    size_t o = 0;
    for (int i = 0; i < 300; i++) o += (size_t)snprintf(data + o, sizeof data - o, "line %d\n", i);
    const char *p = us_test_path("multi.gz");
    REQUIRE(write_gz(p, data, o, 3) == 0);
    us_lines *l;
    us_err e;
    REQUIRE(us_lines_open(&l, p, &e) == US_OK);
    char *line;
    size_t len;
    int i = 0, bad = 0;
    while (us_lines_next(l, &line, &len, &e) == 1) {
        char want[32];
        snprintf(want, sizeof want, "line %d", i++);
        bad += strcmp(line, want) != 0;
    }
    CHECK_EQ_INT(i, 300);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(us_lines_bytes(l), o);
    /* The checksum is of the raw (compressed) file. */
    FILE *f = fopen(p, "rb");
    REQUIRE(f);
    unsigned char raw[8192];
    size_t n = fread(raw, 1, sizeof raw, f);
    fclose(f);
    CHECK_EQ_U64(us_lines_raw_bytes(l), n);
    uint8_t d[32];
    char want_hex[65], got_hex[65];
    CHECK_EQ_INT(us_sha256_digest(raw, n, d, NULL), US_OK);
    us_sha256_hex(d, want_hex);
    CHECK_EQ_INT(us_lines_sha256(l, got_hex, NULL), US_OK);
    CHECK_STR(got_hex, want_hex);
    us_lines_close(l);
}

/* Cut a gzip file at several points: every complete line before the cut is delivered, then a
 * US_EFORMAT naming the file and the line; never a crash or a garbage line. */
TEST(lines_truncated_gzip) {
    static char data[40000];
    size_t o = 0;
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(data + o, sizeof data - o, "{\"n\": %d, \"pad\": \"%08x\"}\n", i,
                              (unsigned)i * 2654435761u);
    const char *full = us_test_path("full.gz");
    REQUIRE(write_gz(full, data, o, 1) == 0);
    FILE *f = fopen(full, "rb");
    REQUIRE(f);
    static unsigned char gz[40000];
    size_t gzn = fread(gz, 1, sizeof gz, f);
    fclose(f);
    size_t cuts[] = {2, 10, gzn / 3, gzn / 2, gzn - 9, gzn - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        const char *p = us_test_write("cut.gz", (const char *)gz, (long)cuts[c]);
        us_lines *l;
        us_err e;
        REQUIRE(us_lines_open(&l, p, &e) == US_OK);
        char *line;
        size_t len;
        int got, n = 0, wrong = 0;
        while ((got = us_lines_next(l, &line, &len, &e)) == 1) {
            char want[64];
            snprintf(want, sizeof want, "{\"n\": %d, \"pad\": \"%08x\"}", n,
                     (unsigned)n * 2654435761u);
            wrong += strcmp(line, want) != 0;
            n++;
        }
        CHECK_EQ_INT(got, US_EFORMAT);
        CHECK_EQ_INT(wrong, 0);
        CHECK(n < 1000 || cuts[c] >= gzn - 9); /* the trailer cuts may hold every line */
        CHECK_EQ_INT(e.line, n + 1);
        CHECK(strstr(e.file, "cut.gz") != NULL);
        CHECK(strstr(e.msg, "truncated") != NULL);
        CHECK_EQ_INT(us_lines_next(l, &line, &len, &e), 0); /* and then it stays ended */
        us_lines_close(l);
    }
}

TEST(lines_corrupt_gzip) {
    char data[3000];
    size_t o = 0;
    for (int i = 0; i < 200; i++) o += (size_t)snprintf(data + o, sizeof data - o, "row %d\n", i);
    const char *p = us_test_path("c.gz");
    REQUIRE(write_gz(p, data, o, 1) == 0);
    FILE *f = fopen(p, "rb");
    REQUIRE(f);
    unsigned char gz[4000];
    size_t n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    for (size_t i = 20; i < 40; i++) gz[i] ^= 0x5a;
    p = us_test_write("c.gz", (const char *)gz, (long)n);
    char buf[8000];
    long lines;
    us_err e;
    CHECK_EQ_INT(read_all(p, buf, sizeof buf, &lines, &e), US_EFORMAT);
    CHECK(strstr(e.msg, "gzip") != NULL);
}

TEST(lines_long_lines) {
    /* A 3 MiB line (grows the buffer), then one over US_MAX_LINE: an error naming the file, the
     * line and the byte offset where the line starts; nothing is read after it. */
    size_t big = 3u << 20, huge = US_MAX_LINE + 100;
    size_t total = 2 + big + 1 + huge + 1 + 4;
    char *data = malloc(total);
    REQUIRE(data);
    size_t o = 0;
    data[o++] = 'a', data[o++] = '\n';
    memset(data + o, 'x', big), o += big, data[o++] = '\n';
    memset(data + o, 'y', huge), o += huge, data[o++] = '\n';
    memcpy(data + o, "end\n", 4), o += 4;
    us_lines *l;
    us_err e;
    REQUIRE(us_lines_open_mem(&l, data, o, "mem", &e) == US_OK);
    char *line;
    size_t len;
    CHECK_EQ_INT(us_lines_next(l, &line, &len, &e), 1);
    CHECK(line && len == 1);
    CHECK_EQ_INT(us_lines_next(l, &line, &len, &e), 1);
    CHECK(line && len == big && line[0] == 'x' && line[big - 1] == 'x' && line[big] == '\0');
    CHECK_ERR(us_lines_next(l, &line, &len, &e), e, US_EFORMAT, "mem:3: ");
    CHECK(strstr(e.msg, "starting at byte offset 3145731") != NULL);
    CHECK(us_lines_too_long(l));
    CHECK_ERR(us_lines_next(l, &line, &len, &e), e, US_EFORMAT, "mem:3: ");
    CHECK_EQ_INT(us_lines_lineno(l), 2);
    us_lines_close(l);
    free(data);
}

/* A line that does not end is an error as soon as it passes the limit (set small here): the
 * reader stops within its first buffer instead of reading (or, for /dev/zero, running) on. The
 * same for plain and gzip input. */
TEST(lines_endless_line_stops_at_the_limit) {
    size_t n = 4u << 20;
    char *data = malloc(n);
    REQUIRE(data);
    memcpy(data, "first\n", 6);
    memset(data + 6, 'z', n - 6);
    const char *plain = us_test_write("long.txt", data, (long)n);
    char gz[1024];
    snprintf(gz, sizeof gz, "%s", us_test_path("long.txt.gz"));
    REQUIRE(write_gz(gz, data, n, 1) == 0);
    const char *paths[2] = {plain, gz};
    for (int i = 0; i < 2; i++) {
        us_lines *l;
        us_err e;
        REQUIRE(us_lines_open(&l, paths[i], &e) == US_OK);
        us_lines_set_max_line(l, 1000);
        char *line;
        size_t len;
        CHECK_EQ_INT(us_lines_next(l, &line, &len, &e), 1);
        CHECK(line && !strcmp(line, "first"));
        char where[1100];
        snprintf(where, sizeof where, "%s:2: ", paths[i]);
        CHECK_ERR(us_lines_next(l, &line, &len, &e), e, US_EFORMAT, where);
        CHECK(strstr(e.msg, "at most 1000 bytes") != NULL);
        CHECK(strstr(e.msg, "starting at byte offset 6") != NULL);
        CHECK(us_lines_bytes(l) < n / 2);
        us_lines_close(l);
    }
    free(data);
}
