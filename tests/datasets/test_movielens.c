/* MovieLens parser: the three layouts (100k, 1m, CSV) of ratings and movies, detection from the
 * first line, Latin-1 lines converted to UTF-8, genres (flags, '|' lists, "(no genres
 * listed)"), the year of a title, CSV headers and quoting, bad lines of every kind, and the counts
 * of the README.txt in tests/fixtures/ml-100k, ml-1m and ml-latest-small. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"
#include "tests/test.h"

/* Copies line into buf (the record borrows from it) and reads it. */
static us_status review(us_reader *r, char *buf, size_t cap, const char *line, us_review *out,
                        us_err *e, us_skip *why) {
    size_t n = strlen(line);
    US_ASSERT(n < cap);
    memcpy(buf, line, n + 1);
    us_err_clear(e);
    *why = US_SKIP_COUNT;
    return us_read_review(r, buf, n, out, e, why);
}

static us_status meta(us_reader *r, char *buf, size_t cap, const char *line, us_meta *out,
                      us_err *e, us_skip *why) {
    size_t n = strlen(line);
    US_ASSERT(n < cap);
    memcpy(buf, line, n + 1);
    us_err_clear(e);
    *why = US_SKIP_COUNT;
    return us_read_meta(r, buf, n, out, e, why);
}

static int eq(const char *s, size_t n, const char *want) {
    return s && n == strlen(want) && memcmp(s, want, n) == 0;
}

static void check_bad(us_test_ctx *t_, us_status st, us_skip why, const us_err *e, us_skip kind,
                      const char *field, int line) {
    if (st != US_EFORMAT || why != kind || strcmp(e->field, field) != 0)
        us_test_fail(t_, __FILE__, line, "expected %s on \"%s\", got status %d, %s on \"%s\" (%s)",
                     us_skip_name(kind), field, (int)st, us_skip_name(why), e->field, e->msg);
}
/* The call runs first: it sets why and e. */
#define CHECK_BAD(call, kind, field)                                                       \
    do {                                                                                   \
        us_status st_ = (call);                                                            \
        check_bad(t_, st_, why, &e, (kind), (field), __LINE__);                            \
    } while (0)

static const cJSON *attr(const us_meta *m, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(m->attributes, name);
}

static const char *cat(const us_meta *m, int i) {
    const cJSON *c = cJSON_GetArrayItem(m->categories, i);
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

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
    CHECK_OK(review(&a, buf, sizeof buf, "196\t242\t3\t881250949", &v, &e, &why), e);
    CHECK(eq(v.user, v.user_len, "196") && eq(v.item, v.item_len, "242"));
    CHECK_NEAR(v.rating, 3, 0);
    CHECK_EQ_INT(v.ts, 881250949);
    CHECK(v.title == NULL && v.text == NULL);

    /* ml-1m ratings.dat */
    CHECK_OK(review(&b, buf, sizeof buf, "1::1193::5::978300760", &v, &e, &why), e);
    CHECK(eq(v.user, v.user_len, "1") && eq(v.item, v.item_len, "1193"));
    CHECK_NEAR(v.rating, 5, 0);
    CHECK_EQ_INT(v.ts, 978300760);

    /* ml-latest-small ratings.csv: the header yields nothing; halves are ratings. */
    CHECK_EQ_INT(review(&c, buf, sizeof buf, "userId,movieId,rating,timestamp", &v, &e, &why),
                 US_NOREC);
    CHECK_OK(review(&c, buf, sizeof buf, "1,296,0.5,964982703", &v, &e, &why), e);
    CHECK(eq(v.user, v.user_len, "1") && eq(v.item, v.item_len, "296"));
    CHECK_NEAR(v.rating, 0.5, 0);
    CHECK_EQ_INT(v.ts, 964982703);

    /* Three different releases were detected, and each sticks. */
    CHECK(a.variant != 0 && b.variant != 0 && c.variant != 0);
    CHECK(a.variant != b.variant && b.variant != c.variant && a.variant != c.variant);
    CHECK_BAD(review(&a, buf, sizeof buf, "1::2::3::4", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 4 tab-separated fields, found 1") != NULL);
    CHECK_BAD(review(&b, buf, sizeof buf, "1\t2\t3\t4", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK_BAD(review(&c, buf, sizeof buf, "1::2::3::4", &v, &e, &why), US_SKIP_MALFORMED, "");
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
    CHECK_BAD(review(&r, buf, sizeof buf, "hello world", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "userId,movieId,rating,timestamp") != NULL);
    CHECK_EQ_INT(r.variant, 0);
    CHECK_BAD(review(&r, buf, sizeof buf, "1,296,5.0,964982703", &v, &e, &why),
              US_SKIP_MALFORMED, "");
    CHECK_EQ_INT(review(&r, buf, sizeof buf, "", &v, &e, &why), US_NOREC);
    CHECK_OK(review(&r, buf, sizeof buf, "1::2::3::4", &v, &e, &why), e);
    us_reader_free(&r);

    /* CSV columns are mapped by name; a BOM before the header is ignored. */
    us_reader_init(&r, US_FORMAT_MOVIELENS, 0);
    CHECK_EQ_INT(review(&r, buf, sizeof buf, "\xEF\xBB\xBFtimestamp,movieId,userId,rating", &v,
                        &e, &why),
                 US_NOREC);
    CHECK_OK(review(&r, buf, sizeof buf, "1500000000,7,9,4.5", &v, &e, &why), e);
    CHECK(eq(v.user, v.user_len, "9") && eq(v.item, v.item_len, "7"));
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
#define RV(s) review(&r, buf, sizeof buf, (s), &v, &e, &why)
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
    CHECK_OK(meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    CHECK(eq(m.item, m.item_len, "1"));
    CHECK_STR(m.title, "Toy Story (1995)");
    REQUIRE(cJSON_GetArraySize(m.categories) == 3);
    CHECK_STR(cat(&m, 0), "Animation");
    CHECK_STR(cat(&m, 1), "Children's");
    CHECK_STR(cat(&m, 2), "Comedy");
    CHECK_NEAR(cJSON_GetNumberValue(attr(&m, "year")), 1995, 0);
    CHECK_STR(cJSON_GetStringValue(attr(&m, "release_date")), "01-Jan-1995");
    CHECK_STR(cJSON_GetStringValue(attr(&m, "imdb_url")),
              "http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)");
    CHECK_EQ_INT(cJSON_GetArraySize(m.attributes), 3);

    /* Every flag maps to its genre, in order. */
    u_item(line, sizeof line, "2", "All (1990)", "", "", "0111111111111111111");
    CHECK_OK(meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    REQUIRE(cJSON_GetArraySize(m.categories) == 18);
    CHECK_STR(cat(&m, 0), "Action");
    CHECK_STR(cat(&m, 9), "Film-Noir");
    CHECK_STR(cat(&m, 14), "Sci-Fi");
    CHECK_STR(cat(&m, 17), "Western");

    /* Movie 267 of the real file: title "unknown", no dates, only the "unknown" flag. */
    u_item(line, sizeof line, "267", "unknown", "", "", "1000000000000000000");
    CHECK_OK(meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    CHECK_STR(m.title, "unknown");
    CHECK(m.categories == NULL);
    CHECK(cJSON_IsNull(attr(&m, "release_date")) && cJSON_IsNull(attr(&m, "imdb_url")));
    CHECK(attr(&m, "year") == NULL);

#define MT(s) meta(&r, buf, sizeof buf, (s), &m, &e, &why)
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
    CHECK_OK(meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    CHECK_STR(m.title, "Mis\xc3\xa9rables, Les (1995)");
    CHECK(utf8_ok(m.title));
    CHECK_NEAR(cJSON_GetNumberValue(attr(&m, "year")), 1995, 0);
    CHECK(cJSON_IsNull(attr(&m, "imdb_url")));
    /* The line itself was not touched: the conversion lives in the reader. */
    CHECK(strchr(buf, '\xe9') != NULL);
    us_reader_free(&r);

    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
    CHECK_OK(meta(&r, buf, sizeof buf, "73::Mis\xe9rables, Les (1995)::Drama|Musical", &m, &e,
                  &why),
             e);
    CHECK_STR(m.title, "Mis\xc3\xa9rables, Les (1995)");
    /* Bytes 0x80..0x9F and 0xFF also map to their code points. */
    CHECK_OK(meta(&r, buf, sizeof buf, "74::\x80\xff \xc3 (2000)::Drama", &m, &e, &why), e);
    CHECK_STR(m.title, "\xc2\x80\xc3\xbf \xc3\x83 (2000)");
    /* A line that is valid UTF-8 is kept as it is. */
    CHECK_OK(meta(&r, buf, sizeof buf, "75::Am\xc3\xa9lie (2001)::Comedy|Romance", &m, &e, &why),
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
#define MT(s) meta(&r, buf, sizeof buf, (s), &m, &e, &why)
    CHECK_OK(MT("1::Toy Story (1995)::Animation|Children's|Comedy"), e);
    CHECK(eq(m.item, m.item_len, "1"));
    CHECK(m.item[m.item_len] == '\0');
    CHECK_STR(m.title, "Toy Story (1995)");
    REQUIRE(cJSON_GetArraySize(m.categories) == 3);
    CHECK_STR(cat(&m, 1), "Children's");
    CHECK_NEAR(cJSON_GetNumberValue(attr(&m, "year")), 1995, 0);
    CHECK_EQ_INT(cJSON_GetArraySize(m.attributes), 1);
    CHECK_BAD(MT("2::Jumanji (1995)"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 3 '::'-separated fields, found 2") != NULL);
    us_reader_free(&r);

    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
    CHECK_EQ_INT(MT("movieId,title,genres"), US_NOREC);
    CHECK_OK(MT("11,\"American President, The (1995)\",Comedy|Drama|Romance"), e);
    CHECK(eq(m.item, m.item_len, "11"));
    CHECK_STR(m.title, "American President, The (1995)");
    REQUIRE(cJSON_GetArraySize(m.categories) == 3);
    CHECK_STR(cat(&m, 2), "Romance");
    CHECK_OK(MT("3769,\"\"\"Great Performances\"\" Cats (1998)\",Musical"), e);
    CHECK_STR(m.title, "\"Great Performances\" Cats (1998)");
    CHECK_NEAR(cJSON_GetNumberValue(attr(&m, "year")), 1998, 0);
    CHECK_OK(MT("176601,Black Mirror,(no genres listed)"), e);
    CHECK_STR(m.title, "Black Mirror");
    CHECK(m.categories == NULL);
    CHECK(m.attributes == NULL);
    CHECK_OK(MT("5,Babylon 5 (1994-1998) ,Sci-Fi"), e);
    CHECK_STR(m.title, "Babylon 5 (1994-1998)");
    CHECK(attr(&m, "year") == NULL);
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

/* Reads a fixture through the dispatcher and counts lines, records, header lines, bad lines,
 * repeated user-item pairs, distinct users and items; every string must be UTF-8. */
typedef struct counts {
    long lines, records, norec, bad, duplicates, not_utf8;
    uint32_t users, items;
} counts;

static int count_file(const char *path, int is_meta, counts *c) {
    us_lines *l;
    us_err e;
    memset(c, 0, sizeof *c);
    if (us_lines_open(&l, path, &e) != US_OK) return -1;
    us_strtab *users, *items, *pairs;
    us_strtab_init(&users);
    us_strtab_init(&items);
    us_strtab_init(&pairs);
    us_reader r;
    us_reader_init(&r, US_FORMAT_MOVIELENS, is_meta);
    char *line;
    size_t len;
    while (us_lines_next(l, &line, &len, &e) == 1) {
        c->lines++;
        us_review v;
        us_meta m;
        us_skip why;
        us_status st = is_meta ? us_read_meta(&r, line, len, &m, &e, &why)
                               : us_read_review(&r, line, len, &v, &e, &why);
        c->norec += st == US_NOREC;
        c->bad += st == US_EFORMAT;
        if (st != US_OK) continue;
        c->records++;
        uint32_t id;
        if (is_meta) {
            us_strtab_intern(items, m.item, m.item_len, &id, NULL);
            c->not_utf8 += !utf8_ok(m.title);
            continue;
        }
        us_strtab_intern(users, v.user, v.user_len, &id, NULL);
        us_strtab_intern(items, v.item, v.item_len, &id, NULL);
        char key[600];
        int n = snprintf(key, sizeof key, "%.*s\x01%.*s", (int)v.user_len, v.user,
                         (int)v.item_len, v.item);
        int is_new;
        us_strtab_intern(pairs, key, (size_t)n, &id, &is_new);
        c->duplicates += !is_new;
    }
    c->users = us_strtab_count(users);
    c->items = us_strtab_count(items);
    us_reader_free(&r);
    us_strtab_free(users);
    us_strtab_free(items);
    us_strtab_free(pairs);
    us_lines_close(l);
    return 0;
}

TEST(movielens_fixture_counts) {
    static const struct {
        const char *path;
        int is_meta;
        long lines, norec, records, duplicates;
        uint32_t users, items;
    } want[] = {
        {"tests/fixtures/ml-100k/u.data", 0, 19, 0, 19, 1, 6, 7},
        {"tests/fixtures/ml-100k/u.item", 1, 7, 0, 7, 0, 0, 7},
        {"tests/fixtures/ml-1m/ratings.dat", 0, 19, 0, 19, 1, 6, 6},
        {"tests/fixtures/ml-1m/movies.dat", 1, 7, 0, 7, 0, 0, 7},
        {"tests/fixtures/ml-latest-small/ratings.csv", 0, 20, 1, 19, 1, 6, 6},
        {"tests/fixtures/ml-latest-small/movies.csv", 1, 8, 1, 7, 0, 0, 7},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        counts c;
        REQUIRE(count_file(want[i].path, want[i].is_meta, &c) == 0);
        if (c.lines != want[i].lines || c.norec != want[i].norec || c.bad != 0 ||
            c.records != want[i].records || c.duplicates != want[i].duplicates ||
            c.users != want[i].users || c.items != want[i].items || c.not_utf8 != 0)
            us_test_fail(t_, __FILE__, __LINE__,
                         "%s: lines %ld norec %ld bad %ld records %ld duplicates %ld users %u "
                         "items %u not-utf8 %ld",
                         want[i].path, c.lines, c.norec, c.bad, c.records, c.duplicates,
                         c.users, c.items, c.not_utf8);
    }
}
