/* Every reader end to end: each hand-written fixture (tests/fixtures/<dataset>/, see the README
 * there for how it was built and what it holds) is ingested into a real store, and the counts
 * its README states are checked, plus the things each dataset does differently (Anime's
 * unlabeled -1, Yelp's --state, MovieLens's Latin-1, gzip input). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "datasets/internal.h"
#include "tests/test.h"

typedef struct fixture {
    const char *name;
    us_format format;
    const char *reviews, *meta;
    const char *state;
    uint64_t lines, records, filtered, duplicates, interactions;
    uint32_t users, items, items_with_meta;
    uint64_t meta_unused, meta_lines, meta_records;
} fixture;

#define FX "tests/fixtures/"
static const fixture fixtures[] = {
    {"amazon2014", US_FORMAT_AMAZON, FX "amazon2014/reviews_Tiny_5.json",
     FX "amazon2014/meta_Tiny.json", NULL, 21, 21, 0, 1, 20, 6, 6, 5, 1, 6, 6},
    {"amazon2018", US_FORMAT_AMAZON, FX "amazon2018/Tiny_5.json", FX "amazon2018/meta_Tiny.json",
     NULL, 21, 21, 0, 1, 20, 6, 6, 5, 1, 6, 6},
    {"amazon2023", US_FORMAT_AMAZON2023, FX "amazon2023/Tiny.jsonl",
     FX "amazon2023/meta_Tiny.jsonl", NULL, 21, 21, 0, 1, 20, 6, 6, 5, 1, 6, 6},
    {"yelp", US_FORMAT_YELP, FX "yelp/yelp_academic_dataset_review.json",
     FX "yelp/yelp_academic_dataset_business.json", NULL, 22, 22, 0, 1, 21, 7, 6, 6, 1, 7, 7},
    {"yelp_mo", US_FORMAT_YELP, FX "yelp/yelp_academic_dataset_review.json",
     FX "yelp/yelp_academic_dataset_business.json", "MO", 22, 13, 9, 1, 12, 6, 3, 3, 4, 7, 7},
    {"anime", US_FORMAT_ANIME, FX "anime/rating.csv", FX "anime/anime.csv", NULL, 22, 21, 0, 0,
     21, 7, 7, 7, 1, 9, 8},
    {"ml-100k", US_FORMAT_MOVIELENS, FX "ml-100k/u.data", FX "ml-100k/u.item", NULL, 19, 19, 0,
     1, 18, 6, 7, 7, 0, 7, 7},
    {"ml-1m", US_FORMAT_MOVIELENS, FX "ml-1m/ratings.dat", FX "ml-1m/movies.dat", NULL, 19, 19,
     0, 1, 18, 6, 6, 6, 1, 7, 7},
    {"ml-latest-small", US_FORMAT_MOVIELENS, FX "ml-latest-small/ratings.csv",
     FX "ml-latest-small/movies.csv", NULL, 20, 19, 0, 1, 18, 6, 6, 6, 1, 8, 7},
};

static us_status ingest_fixture(const fixture *f, const char *reviews, const char *out,
                                int strict, us_ingest_report *rep, us_err *err) {
    us_ingest_config c = us_ingest_config_default();
    c.format = f->format;
    c.reviews_path = reviews;
    c.meta_path = f->meta;
    c.state = f->state;
    c.out_path = out;
    c.strict = strict;
    c.quiet = 1;
    return us_ingest(&c, rep, err);
}

static int64_t q1(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -2;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static const char *qs(sqlite3 *db, const char *sql) {
    static char buf[512];
    sqlite3_stmt *s;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return "SQL ERROR";
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return buf;
}

/* Counts from each fixture's README; strict mode too, since every fixture line is valid. */
TEST(formats_every_fixture_ingests_with_its_counts) {
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        const fixture *f = &fixtures[i];
        char out[1024];
        snprintf(out, sizeof out, "%s", us_test_path("s.usdb"));
        us_ingest_report r;
        us_err e;
        us_status st = ingest_fixture(f, f->reviews, out, 1, &r, &e);
        char b[1200];
        if (st != US_OK) {
            us_test_fail(t_, __FILE__, __LINE__, "%s: %s", f->name, us_err_str(&e, b, sizeof b));
            continue;
        }
        if (r.lines != f->lines || r.records != f->records || r.filtered != f->filtered ||
            r.duplicates != f->duplicates || r.interactions != f->interactions ||
            r.users != f->users || r.items != f->items ||
            r.items_with_meta != f->items_with_meta || r.meta_unused != f->meta_unused ||
            r.meta_lines != f->meta_lines || r.meta_records != f->meta_records || r.skipped != 0)
            us_test_fail(t_, __FILE__, __LINE__,
                         "%s: lines %llu records %llu filtered %llu dups %llu interactions %llu "
                         "users %u items %u with meta %u unused meta %llu meta lines %llu "
                         "meta records %llu skipped %llu",
                         f->name, (unsigned long long)r.lines, (unsigned long long)r.records,
                         (unsigned long long)r.filtered, (unsigned long long)r.duplicates,
                         (unsigned long long)r.interactions, r.users, r.items, r.items_with_meta,
                         (unsigned long long)r.meta_unused, (unsigned long long)r.meta_lines,
                         (unsigned long long)r.meta_records, (unsigned long long)r.skipped);
        sqlite3 *db = NULL;
        REQUIRE(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
        /* Structural invariants of every store. */
        CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE user NOT IN "
                            "(SELECT id FROM users) OR item NOT IN (SELECT id FROM items)"), 0);
        CHECK_EQ_INT(q1(db, "SELECT count(*) FROM (SELECT user, item FROM interactions "
                            "GROUP BY user, item HAVING count(*) > 1)"), 0);
        CHECK_EQ_INT(q1(db, "SELECT count(*) FROM users u WHERE n_interactions != "
                            "(SELECT count(*) FROM interactions i WHERE i.user = u.id)"), 0);
        /* Positions are 0..n-1 and follow time where there is time. */
        CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions a JOIN interactions b ON "
                            "a.user = b.user AND b.pos = a.pos + 1 WHERE a.ts > b.ts"), 0);
        CHECK_EQ_INT(q1(db, "SELECT count(*) FROM users u WHERE (SELECT max(pos) FROM "
                            "interactions i WHERE i.user = u.id) != n_interactions - 1"), 0);
        /* At most one validation and one test interaction per user, after all training ones. */
        CHECK_EQ_INT(q1(db, "SELECT count(*) FROM (SELECT user FROM interactions WHERE split > 0 "
                            "GROUP BY user, split HAVING count(*) > 1)"), 0);
        CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions a JOIN interactions b ON "
                            "a.user = b.user AND a.split = 0 AND b.split > 0 AND a.pos > b.pos "
                            "AND a.label IS NOT NULL"), 0);
        CHECK_STR(qs(db, "SELECT value FROM meta WHERE key = 'format'"),
                  us_format_name(f->format));
        /* Amazon's categories are a path, the others' a list of genres or tags. */
        CHECK_STR(qs(db, "SELECT value FROM meta WHERE key = 'category_kind'"),
                  f->format == US_FORMAT_AMAZON || f->format == US_FORMAT_AMAZON2023 ? "path"
                                                                                    : "list");
        CHECK_EQ_INT(q1(db, "SELECT count(*) FROM sources WHERE length(sha256) = 64"), 2);
        /* Every stored text is valid UTF-8 (MovieLens's Latin-1 was converted). */
        sqlite3_stmt *s;
        REQUIRE(sqlite3_prepare_v2(db, "SELECT title FROM items UNION ALL SELECT description "
                                       "FROM items UNION ALL SELECT text FROM reviews",
                                   -1, &s, NULL) == SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(s, 0);
            if (t) CHECK(us_utf8_check(t, strlen(t)) < 0);
        }
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
}

TEST(formats_amazon_meta_and_labels) {
    const fixture *f = &fixtures[0];
    const char *out = us_test_path("s.usdb");
    us_ingest_report r;
    us_err e;
    CHECK_OK(ingest_fixture(f, f->reviews, out, 0, &r, &e), e);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE label = 1"), 16);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE label IS NULL"), 0);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM items WHERE has_meta AND title IS NOT NULL"), 5);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM items WHERE has_meta AND "
                        "json_array_length(categories) > 0"), 5);
    sqlite3_close(db);
}

TEST(formats_anime_unrated_stays_unlabeled) {
    const fixture *f = &fixtures[5];
    const char *out = us_test_path("s.usdb");
    us_ingest_report r;
    us_err e;
    CHECK_OK(ingest_fixture(f, f->reviews, out, 0, &r, &e), e);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE label IS NULL"), 5);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE rating = -1"), 5);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE label IS NULL AND "
                        "(rating != -1 OR split != 0)"), 0);
    /* 1-10 scale: like means rating >= 6. */
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE rating >= 6 AND label != 1"),
                 0);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE rating BETWEEN 1 AND 5.99 AND "
                        "label != 0"), 0);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM interactions WHERE ts IS NOT NULL"), 0);
    CHECK_STR(qs(db, "SELECT value FROM meta WHERE key = 'like_threshold'"), "6");
    sqlite3_close(db);
}

TEST(formats_yelp_state_filter_keeps_one_state) {
    const fixture *f = &fixtures[4];
    const char *out = us_test_path("s.usdb");
    us_ingest_report r;
    us_err e;
    CHECK_OK(ingest_fixture(f, f->reviews, out, 0, &r, &e), e);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM items WHERE json_extract(attributes, '$.state') "
                        "= 'MO'"), 3);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM items"), 3);
    /* Brentwood Family Dentistry (MO) has categories null. */
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM items WHERE has_meta AND categories IS NULL"), 1);
    CHECK_STR(qs(db, "SELECT value FROM meta WHERE key = 'state'"), "MO");
    sqlite3_close(db);
    /* --state needs the business file, and only means something for Yelp. */
    us_ingest_config c = us_ingest_config_default();
    c.format = US_FORMAT_YELP;
    c.reviews_path = f->reviews;
    c.out_path = out;
    c.state = "MO";
    c.quiet = 1;
    CHECK_EQ_INT(us_ingest(&c, &r, &e), US_EINVAL);
    CHECK_STR(e.field, "--state");
    c.format = US_FORMAT_AMAZON;
    c.meta_path = f->meta;
    CHECK_EQ_INT(us_ingest(&c, &r, &e), US_EINVAL);
}

TEST(formats_movielens_latin1_titles_become_utf8) {
    const fixture *f = &fixtures[6];
    const char *out = us_test_path("s.usdb");
    us_ingest_report r;
    us_err e;
    CHECK_OK(ingest_fixture(f, f->reviews, out, 0, &r, &e), e);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK_EQ_INT(q1(db, "SELECT count(*) FROM items WHERE title = "
                        "'Mis\xc3\xa9rables, Les (1995)'"), 1);
    sqlite3_close(db);
}

/* The same fixture compressed gives the same data; the reader decides by content, not name. */
TEST(formats_gzip_input_same_as_plain) {
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        const fixture *f = &fixtures[i];
        FILE *in = fopen(f->reviews, "rb");
        REQUIRE(in);
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, in);
        fclose(in);
        const char *gzp = us_test_path("reviews.gz");
        gzFile g = gzopen(gzp, "wb");
        REQUIRE(g);
        gzwrite(g, buf, (unsigned)n);
        gzclose(g);
        us_ingest_report a, b;
        us_err e;
        CHECK_OK(ingest_fixture(f, f->reviews, us_test_path("a.usdb"), 1, &a, &e), e);
        CHECK_OK(ingest_fixture(f, gzp, us_test_path("b.usdb"), 1, &b, &e), e);
        CHECK_EQ_INT(a.interactions, b.interactions);
        CHECK_EQ_INT(a.users, b.users);
        CHECK_EQ_U64(a.bytes_read, b.bytes_read);
    }
}

TEST(formats_category_kind_of_each_format) {
    CHECK_STR(us_format_category_kind(US_FORMAT_AMAZON), "path");
    CHECK_STR(us_format_category_kind(US_FORMAT_AMAZON2023), "path");
    CHECK_STR(us_format_category_kind(US_FORMAT_YELP), "list");
    CHECK_STR(us_format_category_kind(US_FORMAT_ANIME), "list");
    CHECK_STR(us_format_category_kind(US_FORMAT_MOVIELENS), "list");
}
