/* Ingest end to end on small inputs written here: ids, labels, time order and the split,
 * duplicates, k-core to a fixed point, bad lines (counted, or fatal with --strict), wrong
 * format, empty and truncated files, idempotence, and stores left intact by failed or killed
 * ingests (a real child process killed with SIGKILL). */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets/internal.h"
#include "tests/cli.h"
#include "tests/test.h"

/* One Amazon 2018 review line. */
static int amz(char *buf, size_t cap, const char *user, const char *item, double rating,
               long ts, const char *text) {
    return snprintf(buf, cap,
                    "{\"overall\": %.1f, \"verified\": true, \"reviewerID\": \"%s\", "
                    "\"asin\": \"%s\", \"reviewText\": \"%s\", \"summary\": \"s %s\", "
                    "\"unixReviewTime\": %ld}\n",
                    rating, user, item, text, item, ts);
}

/* Builds a reviews file from (user, item, rating, ts) rows. */
typedef struct row {
    const char *user, *item;
    double rating;
    long ts;
} row;

static const char *write_rows(const char *name, const row *rows, int n) {
    static char data[1 << 16];
    size_t o = 0;
    for (int i = 0; i < n; i++)
        o += (size_t)amz(data + o, sizeof data - o, rows[i].user, rows[i].item, rows[i].rating,
                         rows[i].ts, "nice");
    return us_test_write(name, data, (long)o);
}

static us_status run_ingest(const char *reviews, const char *meta, const char *out, int kcore,
                            int strict, us_ingest_report *rep, us_err *err) {
    us_ingest_config c = us_ingest_config_default();
    c.format = US_FORMAT_AMAZON;
    c.reviews_path = reviews;
    c.meta_path = meta;
    c.out_path = out;
    c.kcore = kcore;
    c.strict = strict;
    c.quiet = 1;
    return us_ingest(&c, rep, err);
}

static sqlite3 *open_ro(const char *path) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* The rows of a query as text: columns joined by ',', rows by ';'. */
static const char *q(sqlite3 *db, const char *sql) {
    static char out[8192];
    sqlite3_stmt *s;
    size_t o = 0;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return "SQL ERROR";
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (o && o < sizeof out - 1) out[o++] = ';';
        for (int c = 0; c < sqlite3_column_count(s); c++) {
            const char *v = (const char *)sqlite3_column_text(s, c);
            o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", c ? "," : "", v ? v : "NULL");
            if (o >= sizeof out) o = sizeof out - 1;
        }
    }
    sqlite3_finalize(s);
    return out;
}

/* 1 when the test's folder holds no temporary store of s.usdb ("s.usdb.tmp-<pid>"). */
static int no_temp_store(void) {
    DIR *d = opendir(us_test_tmpdir());
    if (!d) return 0;
    int none = 1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (!strncmp(de->d_name, "s.usdb.tmp", 10)) none = 0;
    closedir(d);
    return none;
}

/* Every table's content in a canonical order, hashed: equal stores give equal digests. */
static void store_digest(const char *path, char hex[65]) {
    sqlite3 *db = open_ro(path);
    us_sha256 s;
    if (us_sha256_init(&s, NULL) != US_OK) {
        snprintf(hex, 65, "no digest: out of memory");
        sqlite3_close(db);
        return;
    }
    const char *tables[] = {"SELECT * FROM meta ORDER BY key",
                            "SELECT role, name, bytes, sha256 FROM sources ORDER BY role",
                            "SELECT * FROM skips ORDER BY role, reason, field",
                            "SELECT * FROM users ORDER BY id", "SELECT * FROM items ORDER BY id",
                            "SELECT * FROM reviews ORDER BY id",
                            "SELECT * FROM interactions ORDER BY id"};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        sqlite3_stmt *st;
        if (!db || sqlite3_prepare_v2(db, tables[t], -1, &st, NULL) != SQLITE_OK) {
            us_sha256_update(&s, "missing", 7);
            continue;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const void *v = sqlite3_column_blob(st, c);
                int n = sqlite3_column_bytes(st, c);
                us_sha256_update(&s, v ? v : "", (size_t)n);
                us_sha256_update(&s, "\x1f", 1);
            }
            us_sha256_update(&s, "\x1e", 1);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    uint8_t d[32];
    us_sha256_final(&s, d);
    us_sha256_hex(d, hex);
}

static const row basic_rows[] = {
    {"U1", "I1", 5, 100}, {"U1", "I2", 2, 300}, {"U1", "I3", 4, 200}, {"U1", "I4", 3, 400},
    {"U2", "I1", 1, 50},  {"U2", "I3", 5, 60},  {"U2", "I4", 4, 70},  {"U3", "I2", 4, 10},
    {"U3", "I5", 5, 20},
};

TEST(ingest_ids_labels_time_order_split) {
    const char *in = write_rows("r.json", basic_rows, 9);
    const char *out = us_test_path("s.usdb");
    us_ingest_report rep;
    us_err e;
    CHECK_OK(run_ingest(in, NULL, out, 0, 0, &rep, &e), e);
    CHECK_EQ_INT(rep.lines, 9);
    CHECK_EQ_INT(rep.records, 9);
    CHECK_EQ_INT(rep.users, 3);
    CHECK_EQ_INT(rep.items, 5);
    CHECK_EQ_INT(rep.interactions, 9);
    sqlite3 *db = open_ro(out);
    REQUIRE(db);
    /* Dense ids by first appearance. */
    CHECK_STR(q(db, "SELECT id, raw_id FROM users ORDER BY id"), "0,U1;1,U2;2,U3");
    CHECK_STR(q(db, "SELECT id, raw_id FROM items ORDER BY id"), "0,I1;1,I2;2,I3;3,I4;4,I5");
    /* U1's history by time: I1(100) I3(200) I2(300) I4(400); last two labeled = valid, test.
     * Labels: rating >= 3. */
    CHECK_STR(q(db, "SELECT item, pos, split, label, ts FROM interactions WHERE user = 0 "
                    "ORDER BY pos"),
              "0,0,0,1,100;2,1,0,1,200;1,2,1,0,300;3,3,2,1,400");
    CHECK_STR(q(db, "SELECT item, split, label FROM interactions WHERE user = 1 ORDER BY pos"),
              "0,0,0;2,1,1;3,2,1");
    /* Fewer than three interactions: everything in training (as SASRec's reference split). */
    CHECK_STR(q(db, "SELECT split FROM interactions WHERE user = 2 ORDER BY pos"), "0;0");
    CHECK_STR(q(db, "SELECT n_interactions, n_train FROM users ORDER BY id"), "4,2;3,1;2,2");
    CHECK_STR(q(db, "SELECT review_title, review_text FROM interactions_full WHERE user = 0 "
                    "AND pos = 0"), "s I1,nice");
    CHECK_STR(q(db, "SELECT value FROM meta WHERE key = 'like_threshold'"), "3");
    struct stat sb;
    REQUIRE(stat(in, &sb) == 0);
    char src[128];
    snprintf(src, sizeof src, "reviews,r.json,%lld", (long long)sb.st_size);
    CHECK_STR(q(db, "SELECT role, name, bytes FROM sources"), src);
    CHECK_EQ_INT(strlen(q(db, "SELECT sha256 FROM sources")), 64);
    CHECK_STR(q(db, "SELECT count(*) FROM items WHERE has_meta = 0"), "5");
    sqlite3_close(db);
    CHECK(no_temp_store());
}

TEST(ingest_duplicates_keep_latest) {
    const row rows[] = {{"U1", "I1", 5, 100}, {"U1", "I2", 4, 150}, {"U1", "I1", 1, 300},
                        {"U1", "I3", 4, 200}, {"U1", "I1", 3, 250}};
    const char *in = write_rows("r.json", rows, 5);
    const char *out = us_test_path("s.usdb");
    us_ingest_report rep;
    us_err e;
    CHECK_OK(run_ingest(in, NULL, out, 0, 0, &rep, &e), e);
    CHECK_EQ_INT(rep.duplicates, 2);
    CHECK_EQ_INT(rep.interactions, 3);
    sqlite3 *db = open_ro(out);
    REQUIRE(db);
    CHECK_STR(q(db, "SELECT raw_id, rating, ts FROM interactions i JOIN items t "
                    "ON t.id = i.item ORDER BY pos"),
              "I2,4.0,150;I3,4.0,200;I1,1.0,300");
    /* Ids count first appearances among the records kept. */
    CHECK_STR(q(db, "SELECT raw_id FROM items ORDER BY id"), "I2;I1;I3");
    /* The dropped duplicates' review text is gone too. */
    CHECK_STR(q(db, "SELECT count(*) FROM reviews"), "3");
    sqlite3_close(db);
}

TEST(ingest_kcore_reaches_fixed_point) {
    /* k = 2. Item I9 has one rating; removing it leaves U4 with one, so U4 goes, then I8 has
     * one, then U5, then I7, then U6: a cascade of six rounds, one removal each. */
    const row rows[] = {
        {"U1", "I1", 5, 1}, {"U1", "I2", 4, 2}, {"U2", "I1", 4, 3}, {"U2", "I2", 2, 4},
        {"U3", "I1", 5, 5}, {"U3", "I2", 5, 6}, {"U4", "I9", 5, 7}, {"U4", "I8", 5, 8},
        {"U5", "I8", 5, 9}, {"U5", "I7", 5, 10}, {"U6", "I7", 5, 11}, {"U6", "I1", 5, 12},
    };
    const char *in = write_rows("r.json", rows, 12);
    const char *out = us_test_path("s.usdb");
    us_ingest_report rep;
    us_err e;
    CHECK_OK(run_ingest(in, NULL, out, 2, 0, &rep, &e), e);
    sqlite3 *db = open_ro(out);
    REQUIRE(db);
    CHECK_STR(q(db, "SELECT raw_id FROM users ORDER BY id"), "U1;U2;U3");
    CHECK_STR(q(db, "SELECT raw_id FROM items ORDER BY id"), "I1;I2");
    /* Every remaining user and item has at least k interactions. */
    CHECK_STR(q(db, "SELECT count(*) FROM (SELECT user FROM interactions GROUP BY user "
                    "HAVING count(*) < 2)"), "0");
    CHECK_STR(q(db, "SELECT count(*) FROM (SELECT item FROM interactions GROUP BY item "
                    "HAVING count(*) < 2)"), "0");
    CHECK_STR(q(db, "SELECT value FROM meta WHERE key = 'kcore'"), "2");
    sqlite3_close(db);
    CHECK_EQ_INT(rep.interactions, 6);
    CHECK_EQ_INT(rep.kcore_removed, 6);
    CHECK_EQ_INT(rep.kcore_rounds, 6);
}

/* Every kind of bad line: skipped and counted by reason, or fatal at the first with --strict. */
TEST(ingest_bad_lines_counted_or_strict) {
    char data[8192];
    size_t o = 0;
    o += (size_t)amz(data + o, sizeof data - o, "U1", "I1", 5, 1, "ok");
    o += (size_t)amz(data + o, sizeof data - o, "U1", "I2", 4, 2, "ok");
    o += (size_t)snprintf(data + o, sizeof data - o, "{\"reviewerID\": \"U1\", \"asin\": \n");
    o += (size_t)snprintf(data + o, sizeof data - o,
                          "{\"reviewerID\": \"U2\", \"asin\": \"I1\", \"unixReviewTime\": 5}\n");
    o += (size_t)snprintf(data + o, sizeof data - o,
                          "{\"reviewerID\": \"U2\", \"asin\": \"I1\", \"overall\": \"five\", "
                          "\"unixReviewTime\": 5}\n");
    o += (size_t)amz(data + o, sizeof data - o, "U2", "I1", 7, 3, "too good");
    o += (size_t)amz(data + o, sizeof data - o, "U2", "I2", 4, 3, "caf\xc3");
    o += (size_t)amz(data + o, sizeof data - o, "U3", "I2", 4, 3, "fine");
    const char *in = us_test_write("bad.json", data, (long)o);
    const char *out = us_test_path("s.usdb");
    us_ingest_report rep;
    us_err e;
    CHECK_OK(run_ingest(in, NULL, out, 0, 0, &rep, &e), e);
    CHECK_EQ_INT(rep.lines, 8);
    CHECK_EQ_INT(rep.records, 3);
    CHECK_EQ_INT(rep.skipped, 5);
    sqlite3 *db = open_ro(out);
    REQUIRE(db);
    CHECK_STR(q(db, "SELECT reason, field, count, first_line FROM skips ORDER BY first_line"),
              "malformed,,1,3;missing-field,overall,1,4;wrong-type,overall,1,5;"
              "out-of-range,overall,1,6;invalid-utf8,,1,7");
    sqlite3_close(db);

    /* --strict: the first bad line fails with file:line: field: expected ..., and the store
     * that was there stays as it was. */
    char before[65], after[65];
    store_digest(out, before);
    CHECK_EQ_INT(run_ingest(in, NULL, out, 0, 1, &rep, &e), US_EFORMAT);
    char msg[1200];
    us_err_str(&e, msg, sizeof msg);
    CHECK(strstr(msg, "bad.json:3: ") != NULL);
    CHECK(strstr(msg, "expected") != NULL);
    store_digest(out, after);
    CHECK_STR(after, before);
    CHECK(no_temp_store());

    /* A strict run stopping at line 4 names the missing field. */
    char only[512];
    int n1 = amz(only, sizeof only, "U1", "I1", 5, 1, "ok");
    snprintf(only + n1, sizeof only - (size_t)n1,
             "{\"reviewerID\": \"U2\", \"asin\": \"I1\", \"unixReviewTime\": 5}\n");
    const char *in2 = us_test_write("bad2.json", only, -1);
    CHECK_EQ_INT(run_ingest(in2, NULL, out, 0, 1, &rep, &e), US_EFORMAT);
    us_err_str(&e, msg, sizeof msg);
    CHECK(strstr(msg, "bad2.json:2: overall: expected a number") != NULL);
}

TEST(ingest_wrong_format_and_empty_files) {
    us_ingest_report rep;
    us_err e;
    const char *out = us_test_path("s.usdb");
    const char *empty = us_test_write("empty.json", "", 0);
    CHECK_EQ_INT(run_ingest(empty, NULL, out, 0, 0, &rep, &e), US_EEMPTY);
    CHECK(strstr(e.msg, "empty file") != NULL);
    CHECK(strstr(e.file, "empty.json") != NULL);
    CHECK(access(out, F_OK) != 0);

    /* Yelp reviews given as --format amazon: a handful of lines -> no valid record. */
    char data[40000];
    size_t o = 0;
    for (int i = 0; i < 150; i++)
        o += (size_t)snprintf(data + o, sizeof data - o,
                              "{\"review_id\": \"r%d\", \"user_id\": \"u%d\", \"business_id\": "
                              "\"b1\", \"stars\": 4.0, \"text\": \"ok\", \"date\": "
                              "\"2016-03-09 00:44:54\"}\n", i, i);
    const char *yelp = us_test_write("yelp.json", data, (long)o);
    CHECK_EQ_INT(run_ingest(yelp, NULL, out, 0, 0, &rep, &e), US_EFORMAT);
    CHECK(strstr(e.msg, "wrong --format") != NULL);
    CHECK(strstr(e.msg, "reviewerID") != NULL);
    CHECK(access(out, F_OK) != 0);
}

static int gz_file(const char *path, const char *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    gzwrite(g, data, (unsigned)n);
    return gzclose(g) == Z_OK ? 0 : -1;
}

TEST(ingest_truncated_gzip) {
    static char data[600000];
    size_t o = 0;
    for (int i = 0; i < 1500 && o < sizeof data - 512; i++) {
        char u[16], it[16];
        snprintf(u, sizeof u, "U%d", i % 50);
        snprintf(it, sizeof it, "I%d", (i * 7) % 97);
        o += (size_t)amz(data + o, sizeof data - o, u, it, 1 + i % 5, 1000 + i,
                         "some words to make the file less compressible 0123456789");
    }
    const char *p = us_test_path("r.json.gz");
    REQUIRE(gz_file(p, data, o) == 0);
    FILE *f = fopen(p, "rb");
    REQUIRE(f);
    static char gz[600000];
    size_t n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    p = us_test_write("r.json.gz", gz, (long)(n / 2));
    const char *out = us_test_path("s.usdb");
    us_ingest_report rep;
    us_err e;
    /* Skipped, counted, and said in the log. */
    FILE *logf = tmpfile();
    REQUIRE(logf);
    us_log log = {logf, US_LOG_INFO};
    us_ingest_config c = us_ingest_config_default();
    c.reviews_path = p;
    c.out_path = out;
    c.quiet = 1;
    c.log = &log;
    CHECK_OK(us_ingest(&c, &rep, &e), e);
    char logged[1024] = "";
    rewind(logf);
    size_t got = fread(logged, 1, sizeof logged - 1, logf);
    logged[got] = '\0';
    fclose(logf);
    CHECK(strstr(logged, "warning") && strstr(logged, "r.json.gz:") &&
          strstr(logged, "truncated"));
    CHECK(rep.records > 100 && rep.records < 1500);
    CHECK_EQ_INT(rep.skipped, 1);
    CHECK_STR(rep.skips[0].reason, "truncated-gzip");
    CHECK_EQ_INT(rep.skips[0].first_line, (long)rep.lines + 1);
    CHECK_EQ_INT(run_ingest(p, NULL, out, 0, 1, &rep, &e), US_EFORMAT);
    CHECK(strstr(e.file, "r.json.gz") != NULL && e.line > 100);
}

TEST(ingest_is_idempotent_and_gzip_equals_plain) {
    const char *in = write_rows("r.json", basic_rows, 9);
    const char *a = us_test_path("a.usdb");
    us_ingest_report rep;
    us_err e;
    CHECK_OK(run_ingest(in, NULL, a, 0, 0, &rep, &e), e);
    char d1[65], d2[65];
    store_digest(a, d1);
    CHECK_OK(run_ingest(in, NULL, a, 0, 0, &rep, &e), e);
    store_digest(a, d2);
    CHECK_STR(d2, d1);
    /* The same data gzip-compressed gives the same tables (but another source checksum). */
    FILE *f = fopen(in, "rb");
    REQUIRE(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char *gzp = us_test_path("r.json.gz");
    REQUIRE(gz_file(gzp, buf, n) == 0);
    const char *b = us_test_path("b.usdb");
    CHECK_OK(run_ingest(gzp, NULL, b, 0, 0, &rep, &e), e);
    sqlite3 *da = open_ro(a), *db = open_ro(b);
    REQUIRE(da && db);
    char x[8192];
    snprintf(x, sizeof x, "%s", q(da, "SELECT * FROM interactions_full ORDER BY id"));
    CHECK_STR(q(db, "SELECT * FROM interactions_full ORDER BY id"), x);
    sqlite3_close(da);
    sqlite3_close(db);
}

TEST(ingest_metadata_joined_to_items) {
    const char *in = write_rows("r.json", basic_rows, 9);
    const char *meta = us_test_write(
        "meta.json",
        "{\"category\": [\"Toys\", \"Dolls\"], \"description\": [\"Soft.\", \"Washable.\"], "
        "\"title\": \"Rag doll\", \"brand\": \"Acme\", \"feature\": [\"cotton\"], "
        "\"asin\": \"I2\"}\n"
        "{\"asin\": \"NOT_REVIEWED\", \"title\": \"x\"}\n"
        "{\"title\": \"no asin\"}\n"
        "{'asin': 'I5', 'title': 'Kite', 'categories': [['Toys', 'Outdoor'], ['Sports']]}\n",
        -1);
    const char *out = us_test_path("s.usdb");
    us_ingest_report rep;
    us_err e;
    CHECK_OK(run_ingest(in, meta, out, 0, 0, &rep, &e), e);
    CHECK_EQ_INT(rep.meta_lines, 4);
    CHECK_EQ_INT(rep.meta_records, 3);
    CHECK_EQ_INT(rep.meta_unused, 1);
    CHECK_EQ_INT(rep.items_with_meta, 2);
    CHECK_EQ_INT(rep.skipped, 1);
    sqlite3 *db = open_ro(out);
    REQUIRE(db);
    CHECK_STR(q(db, "SELECT raw_id, title, categories, description, brand, has_meta FROM items "
                    "WHERE has_meta ORDER BY id"),
              "I2,Rag doll,[\"Toys\",\"Dolls\"],Soft.\nWashable.,Acme,1;"
              "I5,Kite,[\"Toys\",\"Outdoor\",\"Sports\"],NULL,NULL,1");
    CHECK_STR(q(db, "SELECT json_extract(attributes, '$.feature[0]') FROM items WHERE "
                    "raw_id = 'I2'"), "cotton");
    CHECK_STR(q(db, "SELECT count(*) FROM items"), "5");
    CHECK_STR(q(db, "SELECT role, reason, field FROM skips"), "meta,missing-field,asin");
    sqlite3_close(db);
}

TEST(ingest_stats_of_a_store) {
    const char *in = write_rows("r.json", basic_rows, 9);
    const char *out = us_test_path("s.usdb");
    us_ingest_report rep;
    us_err e;
    CHECK_OK(run_ingest(in, NULL, out, 0, 0, &rep, &e), e);
    us_store_stats s;
    CHECK_OK(us_store_stats_read(out, &s, &e), e);
    CHECK_STR(s.format, "amazon");
    CHECK_EQ_INT(s.users, 3);
    CHECK_EQ_INT(s.items, 5);
    CHECK_EQ_INT(s.interactions, 9);
    CHECK_NEAR(s.density, 9.0 / 15.0, 1e-12);
    CHECK_EQ_INT(s.likes, 7);
    CHECK_NEAR(s.like_ratio, 7.0 / 9.0, 1e-12);
    CHECK_NEAR(s.mean_history, 3.0, 1e-12);
    CHECK_NEAR(s.median_history, 3.0, 1e-12);
    CHECK_EQ_INT(s.train, 5);
    CHECK_EQ_INT(s.valid, 2);
    CHECK_EQ_INT(s.test, 2);
    CHECK_NEAR(s.text_share, 1.0, 1e-12);
    CHECK_EQ_INT(s.first_ts, 10);
    CHECK_EQ_INT(s.last_ts, 400);
    CHECK_EQ_INT(us_store_stats_read(us_test_path("none.usdb"), &s, &e), US_ENOTFOUND);
    const char *junk = us_test_write("junk.usdb", "not a database at all", -1);
    CHECK(us_store_stats_read(junk, &s, &e) != US_OK);
}

/* ---- the command line, as a child process ---- */

TEST(cli_ingest_and_stats_exit_codes) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    const char *in = write_rows("r.json", basic_rows, 9);
    char out[1024];
    snprintf(out, sizeof out, "%s", us_test_path("s.usdb"));
    const char *ok[] = {"ingest", "--format", "amazon", "--reviews", in, "--out", out,
                        "--json", NULL};
    CHECK_EQ_INT(us_test_cli(ok, "o1"), 0);
    cJSON *j = cJSON_Parse(us_test_slurp("o1"));
    CHECK(j && cJSON_GetNumberValue(cJSON_GetObjectItem(j, "interactions")) == 9);
    CHECK(j && cJSON_GetNumberValue(cJSON_GetObjectItem(j, "users")) == 3);
    cJSON_Delete(j);
    const char *st[] = {"stats", out, NULL};
    CHECK_EQ_INT(us_test_cli(st, "o2"), 0);
    CHECK(strstr(us_test_slurp("o2"), "like ratio      0.778") != NULL);
    const char *bad_fmt[] = {"ingest", "--format", "imdb", "--reviews", in, "--out", out, NULL};
    CHECK_EQ_INT(us_test_cli(bad_fmt, "o3"), 1);
    CHECK(strstr(us_test_slurp("o3"), "--format: expected amazon") != NULL);
    const char *no_out[] = {"ingest", "--format", "amazon", "--reviews", in, NULL};
    CHECK_EQ_INT(us_test_cli(no_out, "o4"), 2);
    const char *missing[] = {"ingest", "--format", "amazon", "--reviews", "/no/such.json",
                             "--out", out, NULL};
    CHECK_EQ_INT(us_test_cli(missing, "o5"), 1);
    CHECK(strstr(us_test_slurp("o5"), "/no/such.json: cannot open") != NULL);
    const char *help[] = {"ingest", "--help", NULL};
    CHECK_EQ_INT(us_test_cli(help, "o6"), 0);
    CHECK(strstr(us_test_slurp("o6"), "meta_<Category>.json.gz") != NULL);
}

/* A real ingest process killed with SIGKILL while it is halfway through its input (it reads a
 * FIFO, and only half the data has been written) leaves the previous store untouched; the next
 * run completes. */
TEST(ingest_killed_midway_leaves_old_store) {
    const char *bin = getenv("USERSIM_BIN");
    if (!bin || access(bin, X_OK) != 0) SKIP("USERSIM_BIN not set (run through make test)");
    char store[1024], fifo[1024], tmp[1100];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    snprintf(fifo, sizeof fifo, "%s", us_test_path("reviews.fifo"));
    const char *in = write_rows("r.json", basic_rows, 9);
    us_ingest_report rep;
    us_err e;
    CHECK_OK(run_ingest(in, NULL, store, 0, 0, &rep, &e), e);
    char before[65], after[65];
    store_digest(store, before);

    REQUIRE(mkfifo(fifo, 0600) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(bin, bin, "ingest", "--format", "amazon", "--reviews", fifo, "--out", store,
              (char *)NULL);
        _exit(127);
    }
    /* The child's temporary store is its own: named with its pid. */
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", store, (long)pid);
    int wfd = open(fifo, O_WRONLY); /* blocks until the child opens its end */
    REQUIRE(wfd >= 0);
    char line[512];
    for (int i = 0; i < 2000; i++) {
        char u[16], it[16];
        snprintf(u, sizeof u, "K%d", i % 40);
        snprintf(it, sizeof it, "J%d", i % 70);
        int n = amz(line, sizeof line, u, it, 4, 1000 + i, "halfway there");
        REQUIRE(write(wfd, line, (size_t)n) == n);
    }
    /* The child is building its store beside the old one and waits for more input. */
    for (int i = 0; i < 500 && access(tmp, F_OK) != 0; i++) usleep(10000);
    CHECK(access(tmp, F_OK) == 0);
    REQUIRE(kill(pid, SIGKILL) == 0);
    int status;
    waitpid(pid, &status, 0);
    close(wfd);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    store_digest(store, after);
    CHECK_STR(after, before);
    us_store_stats s;
    CHECK_OK(us_store_stats_read(store, &s, &e), e);
    CHECK_EQ_INT(s.interactions, 9);

    /* Run again on a whole file: it completes and replaces the store (and its stale .tmp). */
    FILE *f = fopen(us_test_path("full.json"), "w");
    REQUIRE(f);
    for (int i = 0; i < 2000; i++) {
        char u[16], it[16];
        snprintf(u, sizeof u, "K%d", i % 40);
        snprintf(it, sizeof it, "J%d", i % 70);
        amz(line, sizeof line, u, it, 4, 1000 + i, "all of it");
        fputs(line, f);
    }
    fclose(f);
    CHECK_OK(run_ingest(us_test_path("full.json"), NULL, store, 0, 0, &rep, &e), e);
    CHECK_EQ_INT(rep.records, 2000);
    CHECK(access(tmp, F_OK) != 0);
    CHECK(no_temp_store());
}

/* A time outside 1900-3000 is a unit mistake (milliseconds as seconds) or garbage; it is
 * rejected for every format that has time, and never taken for "no time". */
TEST(reader_rejects_impossible_times) {
    static const struct {
        us_format f;
        const char *line, *field;
    } cases[] = {
        {US_FORMAT_AMAZON,
         "{\"reviewerID\": \"U\", \"asin\": \"I\", \"overall\": 5, "
         "\"unixReviewTime\": \"-9223372036854775808\"}", "unixReviewTime"},
        {US_FORMAT_AMAZON,
         "{\"reviewerID\": \"U\", \"asin\": \"I\", \"overall\": 5, "
         "\"unixReviewTime\": 1445040000000}", "unixReviewTime"},
        {US_FORMAT_MOVIELENS, "1::1::5::-9223372036854775808", "timestamp"},
        {US_FORMAT_YELP,
         "{\"user_id\": \"u\", \"business_id\": \"b\", \"stars\": 4, \"date\": "
         "\"1850-01-01 00:00:00\"}", "date"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        us_reader r;
        us_reader_init(&r, cases[i].f, 0);
        char buf[512];
        snprintf(buf, sizeof buf, "%s", cases[i].line);
        us_review v;
        us_err e;
        us_skip why = US_SKIP_COUNT;
        CHECK_EQ_INT(us_read_review(&r, buf, strlen(buf), &v, &e, &why), US_EFORMAT);
        CHECK_EQ_INT(why, US_SKIP_RANGE);
        CHECK_STR(e.field, cases[i].field);
        us_reader_free(&r);
    }
}
