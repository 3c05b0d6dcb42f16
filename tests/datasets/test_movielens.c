/* MovieLens parser: the three layouts (100k, 1m, CSV) of ratings and movies, detection from the
 * first line, Latin-1 lines converted to UTF-8, genres (flags, '|' lists, "(no genres
 * listed)"), the year of a title, CSV headers and quoting, bad lines of every kind, and every
 * title of the three movies fixtures in UTF-8. The counts of the README.txt in
 * tests/fixtures/ml-100k, ml-1m and ml-latest-small are checked end to end in test_formats.c. */
#include <string.h>

#include "tests/datasets/reader_helpers.h"

static int utf8_ok(const char *s) { return !s || us_utf8_check(s, strlen(s)) < 0; }

/* A u.item line: id, title, release date, IMDb URL and the 19 genre flags as a string. */
static void u_item(char *buf, size_t cap, const char *id, const char *title, const char *date,
                   const char *url, const char *flags) {
    snprintf(buf, cap, "%s|%s|%s||%s", id, title, date, url);
    for (size_t i = 0; flags[i]; i++) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "|%c", flags[i]);
    }
}

TEST(movielens_ratings_three_layouts) {
    char buf[256];
    us_review v;
    us_err e;
    us_skip why;
    us_reader a, b, c;
    us_reader_init(&a, US_FORMAT_MOVIELENS, 0);
    us_reader_init(&b, US_FORMAT_MOVIELENS, 0);
    us_reader_init(&c, US_FORMAT_MOVIELENS, 0);

    /* ml-100k u.data */
    CHECK_OK(th_review(&a, buf, sizeof buf, "196\t242\t3\t881250949", &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "196") && th_eq(v.item, v.item_len, "242"));
    CHECK_NEAR(v.rating, 3, 0);
    CHECK_EQ_INT(v.ts, 881250949);
    CHECK(v.title == NULL && v.text == NULL);

    /* ml-1m ratings.dat */
    CHECK_OK(th_review(&b, buf, sizeof buf, "1::1193::5::978300760", &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "1") && th_eq(v.item, v.item_len, "1193"));
    CHECK_NEAR(v.rating, 5, 0);
    CHECK_EQ_INT(v.ts, 978300760);

    /* ml-latest-small ratings.csv: the header yields nothing; halves are ratings. */
    CHECK_EQ_INT(th_review(&c, buf, sizeof buf, "userId,movieId,rating,timestamp", &v, &e,
                           &why),
                 US_NOREC);
    CHECK_OK(th_review(&c, buf, sizeof buf, "1,296,0.5,964982703", &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "1") && th_eq(v.item, v.item_len, "296"));
    CHECK_NEAR(v.rating, 0.5, 0);
    CHECK_EQ_INT(v.ts, 964982703);

    /* Three different releases were detected, and each sticks. */
    CHECK(a.variant != 0 && b.variant != 0 && c.variant != 0);
    CHECK(a.variant != b.variant && b.variant != c.variant && a.variant != c.variant);
    CHECK_BAD(th_review(&a, buf, sizeof buf, "1::2::3::4", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 4 tab-separated fields, found 1") != NULL);
    CHECK_BAD(th_review(&b, buf, sizeof buf, "1\t2\t3\t4", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK_BAD(th_review(&c, buf, sizeof buf, "1::2::3::4", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 4 comma-separated fields, found 1") != NULL);
    us_reader_free(&a);
    us_reader_free(&b);
    us_reader_free(&c);
}

TEST(movielens_detection_and_header) {
    char buf[256];
    us_review v;
    us_err e;
    us_skip why;
    us_reader r;
    us_reader_init(&r, US_FORMAT_MOVIELENS, 0);
    /* Neither layout: malformed, and the next line still decides. */
    CHECK_BAD(th_review(&r, buf, sizeof buf, "hello world", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "userId,movieId,rating,timestamp") != NULL);
    CHECK_EQ_INT(r.variant, 0);
    CHECK_BAD(th_review(&r, buf, sizeof buf, "1,296,5.0,964982703", &v, &e, &why),
              US_SKIP_MALFORMED, "");
    CHECK_EQ_INT(th_review(&r, buf, sizeof buf, "", &v, &e, &why), US_NOREC);
    CHECK_OK(th_review(&r, buf, sizeof buf, "1::2::3::4", &v, &e, &why), e);
    us_reader_free(&r);

    /* CSV columns are mapped by name; a BOM before the header is ignored. */
    us_reader_init(&r, US_FORMAT_MOVIELENS, 0);
    CHECK_EQ_INT(th_review(&r, buf, sizeof buf, "\xEF\xBB\xBFtimestamp,movieId,userId,rating",
                           &v, &e, &why),
                 US_NOREC);
    CHECK_OK(th_review(&r, buf, sizeof buf, "1500000000,7,9,4.5", &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "9") && th_eq(v.item, v.item_len, "7"));
    CHECK_NEAR(v.rating, 4.5, 0);
    CHECK_EQ_INT(v.ts, 1500000000);
    us_reader_free(&r);
}

TEST(movielens_rating_bad_lines) {
    char buf[256];
    us_review v;
    us_err e;
    us_skip why;
    us_reader r;
    us_reader_init(&r, US_FORMAT_MOVIELENS, 0);
#define RV(s) th_review(&r, buf, sizeof buf, (s), &v, &e, &why)
    CHECK_OK(RV("1::1::5::978300760"), e);
    CHECK_BAD(RV("1::1::5"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 4 '::'-separated fields, found 3") != NULL);
    CHECK_BAD(RV("1::1::5::978300760::9"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("::1::5::978300760"), US_SKIP_MISSING, "userId");
    CHECK_BAD(RV("u1::1::5::978300760"), US_SKIP_TYPE, "userId");
    CHECK_BAD(RV("1::m1::5::978300760"), US_SKIP_TYPE, "movieId");
    CHECK_BAD(RV("1::1::::978300760"), US_SKIP_MISSING, "rating");
    CHECK_BAD(RV("1::1::five::978300760"), US_SKIP_TYPE, "rating");
    CHECK_BAD(RV("1::1::6::978300760"), US_SKIP_RANGE, "rating");
    CHECK_BAD(RV("1::1::0::978300760"), US_SKIP_RANGE, "rating");
    CHECK_BAD(RV("1::1::5::"), US_SKIP_MISSING, "timestamp");
    CHECK_BAD(RV("1::1::5::yesterday"), US_SKIP_TYPE, "timestamp");
    CHECK_BAD(RV("1::1::5::9.5"), US_SKIP_TYPE, "timestamp");
    /* A Latin-1 byte is converted, and still not a digit. */
    CHECK_BAD(RV("1::1\xe9::5::978300760"), US_SKIP_TYPE, "movieId");
    CHECK(utf8_ok(e.msg));
    us_reader_free(&r);

    us_reader_init(&r, US_FORMAT_MOVIELENS, 0);
    CHECK_EQ_INT(RV("userId,movieId,rating,timestamp"), US_NOREC);
    CHECK_BAD(RV("1,1,\"4.0,964982703"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("1,1,4.0"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("1,1,5.5,964982703"), US_SKIP_RANGE, "rating");
    CHECK_BAD(RV("1,1,0.4,964982703"), US_SKIP_RANGE, "rating");
    CHECK_OK(RV("1,1,\"4.0\",964982703"), e);
#undef RV
    us_reader_free(&r);
}

TEST(movielens_100k_items) {
    char line[512], buf[512];
    us_meta m;
    us_err e;
    us_skip why;
    us_reader r;
    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
    u_item(line, sizeof line, "1", "Toy Story (1995)", "01-Jan-1995",
           "http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)", "0001110000000000000");
    CHECK_OK(th_meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    CHECK(th_eq(m.item, m.item_len, "1"));
    CHECK_STR(m.title, "Toy Story (1995)");
    REQUIRE(cJSON_GetArraySize(m.categories) == 3);
    CHECK_STR(th_cat(&m, 0), "Animation");
    CHECK_STR(th_cat(&m, 1), "Children's");
    CHECK_STR(th_cat(&m, 2), "Comedy");
    CHECK_NEAR(cJSON_GetNumberValue(th_attr(&m, "year")), 1995, 0);
    CHECK_STR(cJSON_GetStringValue(th_attr(&m, "release_date")), "01-Jan-1995");
    CHECK_STR(cJSON_GetStringValue(th_attr(&m, "imdb_url")),
              "http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)");
    CHECK_EQ_INT(cJSON_GetArraySize(m.attributes), 3);

    /* Every flag maps to its genre, in order. */
    u_item(line, sizeof line, "2", "All (1990)", "", "", "0111111111111111111");
    CHECK_OK(th_meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    REQUIRE(cJSON_GetArraySize(m.categories) == 18);
    CHECK_STR(th_cat(&m, 0), "Action");
    CHECK_STR(th_cat(&m, 9), "Film-Noir");
    CHECK_STR(th_cat(&m, 14), "Sci-Fi");
    CHECK_STR(th_cat(&m, 17), "Western");

    /* Movie 267 of the real file: title "unknown", no dates, only the "unknown" flag. */
    u_item(line, sizeof line, "267", "unknown", "", "", "1000000000000000000");
    CHECK_OK(th_meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    CHECK_STR(m.title, "unknown");
    CHECK(m.categories == NULL);
    CHECK(cJSON_IsNull(th_attr(&m, "release_date")) && cJSON_IsNull(th_attr(&m, "imdb_url")));
    CHECK(th_attr(&m, "year") == NULL);

#define MT(s) th_meta(&r, buf, sizeof buf, (s), &m, &e, &why)
    u_item(line, sizeof line, "3", "Bad (1995)", "", "", "0001110000000000002");
    CHECK_BAD(MT(line), US_SKIP_TYPE, "genres");
    u_item(line, sizeof line, "3", "Short (1995)", "", "", "000111000000000000");
    CHECK_BAD(MT(line), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 24 '|'-separated fields, found 23") != NULL);
    u_item(line, sizeof line, "x3", "Bad id (1995)", "", "", "0001110000000000000");
    CHECK_BAD(MT(line), US_SKIP_TYPE, "movieId");
    u_item(line, sizeof line, "", "No id (1995)", "", "", "0001110000000000000");
    CHECK_BAD(MT(line), US_SKIP_MISSING, "movieId");
#undef MT
    us_reader_free(&r);
}

TEST(movielens_latin1_titles) {
    char line[512], buf[512];
    us_meta m;
    us_err e;
    us_skip why;
    us_reader r;
    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
    u_item(line, sizeof line, "6", "Mis\xe9rables, Les (1995)", "25-Oct-1995", "",
           "0000000010001000000");
    CHECK_OK(th_meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    CHECK_STR(m.title, "Mis\xc3\xa9rables, Les (1995)");
    CHECK(utf8_ok(m.title));
    CHECK_NEAR(cJSON_GetNumberValue(th_attr(&m, "year")), 1995, 0);
    CHECK(cJSON_IsNull(th_attr(&m, "imdb_url")));
    /* The line itself was not touched: the conversion lives in the reader. */
    CHECK(strchr(buf, '\xe9') != NULL);
    us_reader_free(&r);

    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
    CHECK_OK(th_meta(&r, buf, sizeof buf, "73::Mis\xe9rables, Les (1995)::Drama|Musical", &m,
                     &e, &why),
             e);
    CHECK_STR(m.title, "Mis\xc3\xa9rables, Les (1995)");
    /* Bytes 0x80..0x9F and 0xFF also map to their code points. */
    CHECK_OK(th_meta(&r, buf, sizeof buf, "74::\x80\xff \xc3 (2000)::Drama", &m, &e, &why), e);
    CHECK_STR(m.title, "\xc2\x80\xc3\xbf \xc3\x83 (2000)");
    /* A line that is valid UTF-8 is kept as it is. */
    CHECK_OK(th_meta(&r, buf, sizeof buf, "75::Am\xc3\xa9lie (2001)::Comedy|Romance", &m, &e,
                     &why),
             e);
    CHECK_STR(m.title, "Am\xc3\xa9lie (2001)");
    us_reader_free(&r);
}

TEST(movielens_1m_and_csv_movies) {
    char buf[512];
    us_meta m;
    us_err e;
    us_skip why;
    us_reader r;
    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
#define MT(s) th_meta(&r, buf, sizeof buf, (s), &m, &e, &why)
    CHECK_OK(MT("1::Toy Story (1995)::Animation|Children's|Comedy"), e);
    CHECK(th_eq(m.item, m.item_len, "1"));
    CHECK(m.item[m.item_len] == '\0');
    CHECK_STR(m.title, "Toy Story (1995)");
    REQUIRE(cJSON_GetArraySize(m.categories) == 3);
    CHECK_STR(th_cat(&m, 1), "Children's");
    CHECK_NEAR(cJSON_GetNumberValue(th_attr(&m, "year")), 1995, 0);
    CHECK_EQ_INT(cJSON_GetArraySize(m.attributes), 1);
    CHECK_BAD(MT("2::Jumanji (1995)"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 3 '::'-separated fields, found 2") != NULL);
    us_reader_free(&r);

    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
    CHECK_EQ_INT(MT("movieId,title,genres"), US_NOREC);
    CHECK_OK(MT("11,\"American President, The (1995)\",Comedy|Drama|Romance"), e);
    CHECK(th_eq(m.item, m.item_len, "11"));
    CHECK_STR(m.title, "American President, The (1995)");
    REQUIRE(cJSON_GetArraySize(m.categories) == 3);
    CHECK_STR(th_cat(&m, 2), "Romance");
    CHECK_OK(MT("3769,\"\"\"Great Performances\"\" Cats (1998)\",Musical"), e);
    CHECK_STR(m.title, "\"Great Performances\" Cats (1998)");
    CHECK_NEAR(cJSON_GetNumberValue(th_attr(&m, "year")), 1998, 0);
    CHECK_OK(MT("176601,Black Mirror,(no genres listed)"), e);
    CHECK_STR(m.title, "Black Mirror");
    CHECK(m.categories == NULL);
    CHECK(m.attributes == NULL);
    CHECK_OK(MT("5,Babylon 5 (1994-1998) ,Sci-Fi"), e);
    CHECK_STR(m.title, "Babylon 5 (1994-1998)");
    CHECK(th_attr(&m, "year") == NULL);
    CHECK_OK(MT("6,,"), e);
    CHECK(m.title == NULL && m.categories == NULL);
    CHECK_BAD(MT("7,\"Unterminated (1995),Drama"), US_SKIP_MALFORMED, "");
    CHECK_BAD(MT("7,Two (1995),Drama,Extra"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 3 comma-separated fields, found 4") != NULL);
    CHECK_BAD(MT("x,Bad (1995),Drama"), US_SKIP_TYPE, "movieId");
    us_reader_free(&r);

    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
    CHECK_BAD(MT("movieId,name,genres"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "movieId,title,genres") != NULL);
    CHECK_EQ_INT(r.variant, 0);
#undef MT
    us_reader_free(&r);
}

/* Every title of the three movies fixtures is UTF-8, also those of the movies nobody rated,
 * which the ingest leaves out (test_formats.c checks the stored ones). */
TEST(movielens_fixture_titles_utf8) {
    static const char *const files[] = {
        "tests/fixtures/ml-100k/u.item",
        "tests/fixtures/ml-1m/movies.dat",
        "tests/fixtures/ml-latest-small/movies.csv",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        th_file fx;
        REQUIRE(th_file_open(&fx, files[i], US_FORMAT_MOVIELENS, 1) == 0);
        int records = 0;
        while (th_file_next(&fx)) {
            if (fx.st != US_OK) continue;
            records++;
            if (!utf8_ok(fx.m.title))
                us_test_fail(t_, __FILE__, __LINE__, "%s: the title of movie %s is not UTF-8",
                             files[i], fx.m.item);
        }
        th_file_close(&fx);
        CHECK_EQ_INT(records, 7);
    }
}
