/* Anime parser: rating.csv and anime.csv fields, the header (mapping by name, a wrong first
 * line), -1 ratings, quoted genres, HTML entities in names, "Unknown" episodes and empty
 * ratings, and every kind of bad line. The counts of tests/fixtures/anime/README.txt are
 * checked end to end in test_formats.c. */
#include <string.h>

#include "tests/datasets/reader_helpers.h"

TEST(anime_rating_fields) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_ANIME, 0);
    char buf[256];
    us_review v;
    us_err e;
    us_skip why;
    CHECK_EQ_INT(th_review(&r, buf, sizeof buf, "user_id,anime_id,rating", &v, &e, &why),
                 US_NOREC);
    CHECK_OK(th_review(&r, buf, sizeof buf, "1,20,-1", &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "1"));
    CHECK(th_eq(v.item, v.item_len, "20"));
    CHECK_NEAR(v.rating, -1, 0);
    CHECK(v.ts == US_TS_NONE);
    CHECK(v.title == NULL && v.text == NULL);
    CHECK_OK(th_review(&r, buf, sizeof buf, "73516,16512, 10 ", &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "73516"));
    CHECK(th_eq(v.item, v.item_len, "16512"));
    CHECK_NEAR(v.rating, 10, 0);
    CHECK_EQ_INT(th_review(&r, buf, sizeof buf, "", &v, &e, &why), US_NOREC);
    CHECK_OK(th_review(&r, buf, sizeof buf, "3,\"20\",1", &v, &e, &why), e);
    CHECK(th_eq(v.item, v.item_len, "20"));
    us_reader_free(&r);
}

TEST(anime_rating_header_by_name) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_ANIME, 0);
    char buf[256];
    us_review v;
    us_err e;
    us_skip why;
    /* A byte-order mark, another order and an extra column. */
    CHECK_EQ_INT(th_review(&r, buf, sizeof buf, "\xEF\xBB\xBFrating,extra,anime_id,user_id", &v,
                           &e, &why),
                 US_NOREC);
    CHECK_OK(th_review(&r, buf, sizeof buf, "7,x,20,5", &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "5"));
    CHECK(th_eq(v.item, v.item_len, "20"));
    CHECK_NEAR(v.rating, 7, 0);
    CHECK_BAD(th_review(&r, buf, sizeof buf, "1,20,-1", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 4 columns, found 3") != NULL);
    us_reader_free(&r);
}

TEST(anime_rating_wrong_header) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_ANIME, 0);
    char buf[256];
    us_review v;
    us_err e;
    us_skip why;
    CHECK_BAD(th_review(&r, buf, sizeof buf, "1,20,-1", &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "user_id,anime_id,rating") != NULL);
    /* After a missing header the published column order is assumed. */
    CHECK_OK(th_review(&r, buf, sizeof buf, "2,30,7", &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "2") && th_eq(v.item, v.item_len, "30"));

    us_reader_free(&r);
    us_reader_init(&r, US_FORMAT_ANIME, 0);
    CHECK_BAD(th_review(&r, buf, sizeof buf, "user,anime,rating", &v, &e, &why),
              US_SKIP_MALFORMED, "");
    /* The metadata header is not the ratings header either. */
    us_reader_free(&r);
    us_reader_init(&r, US_FORMAT_ANIME, 0);
    CHECK_BAD(th_review(&r, buf, sizeof buf, "anime_id,name,genre,type,episodes,rating,members",
                        &v, &e, &why),
              US_SKIP_MALFORMED, "");
    us_reader_free(&r);
}

TEST(anime_rating_bad_lines) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_ANIME, 0);
    char buf[256];
    us_review v;
    us_err e;
    us_skip why;
#define RV(s) th_review(&r, buf, sizeof buf, (s), &v, &e, &why)
    CHECK_EQ_INT(RV("user_id,anime_id,rating"), US_NOREC);
    CHECK_BAD(RV("1,20"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 3 columns, found 2") != NULL);
    CHECK_BAD(RV("1,20,5,5"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "found 4") != NULL);
    CHECK_BAD(RV("1,\"20,5"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("1,2\"0,5"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV(",20,5"), US_SKIP_MISSING, "user_id");
    CHECK_BAD(RV("1, ,5"), US_SKIP_MISSING, "anime_id");
    CHECK_BAD(RV("abc,20,5"), US_SKIP_TYPE, "user_id");
    CHECK_BAD(RV("1,20x,5"), US_SKIP_TYPE, "anime_id");
    CHECK_BAD(RV("1,20,"), US_SKIP_MISSING, "rating");
    CHECK_BAD(RV("1,20,good"), US_SKIP_TYPE, "rating");
    CHECK_BAD(RV("1,20,nan"), US_SKIP_TYPE, "rating");
    CHECK_BAD(RV("1,20,11"), US_SKIP_RANGE, "rating");
    CHECK_BAD(RV("1,20,0"), US_SKIP_RANGE, "rating");
    CHECK_BAD(RV("1,20,-2"), US_SKIP_RANGE, "rating");
    CHECK_BAD(RV("1,20,\xff"), US_SKIP_UTF8, "");
    CHECK_OK(RV("1,20,1"), e);
#undef RV
    us_reader_free(&r);
}

TEST(anime_meta_fields) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_ANIME, 1);
    char buf[512];
    us_meta m;
    us_err e;
    us_skip why;
    CHECK_EQ_INT(th_meta(&r, buf, sizeof buf, "anime_id,name,genre,type,episodes,rating,members",
                         &m, &e, &why),
                 US_NOREC);
    CHECK_OK(th_meta(&r, buf, sizeof buf,
                     "32281,Kimi no Na wa.,\"Drama, Romance, School, Supernatural\",Movie,1,9.37,"
                     "200630",
                     &m, &e, &why),
             e);
    CHECK(th_eq(m.item, m.item_len, "32281"));
    CHECK(m.item[m.item_len] == '\0');
    CHECK_STR(m.title, "Kimi no Na wa.");
    CHECK(m.state == NULL && m.description == NULL && m.brand == NULL);
    REQUIRE(cJSON_GetArraySize(m.categories) == 4);
    CHECK_STR(th_cat(&m, 0), "Drama");
    CHECK_STR(th_cat(&m, 1), "Romance");
    CHECK_STR(th_cat(&m, 3), "Supernatural");
    REQUIRE(cJSON_IsObject(m.attributes));
    CHECK_EQ_INT(cJSON_GetArraySize(m.attributes), 4);
    CHECK_STR(cJSON_GetStringValue(th_attr(&m, "type")), "Movie");
    CHECK(cJSON_IsNumber(th_attr(&m, "episodes")) && th_attr(&m, "episodes")->valuedouble == 1);
    CHECK(cJSON_IsNumber(th_attr(&m, "rating")));
    CHECK_NEAR(cJSON_GetNumberValue(th_attr(&m, "rating")), 9.37, 1e-12);
    CHECK_NEAR(cJSON_GetNumberValue(th_attr(&m, "members")), 200630, 0);
    us_reader_free(&r);
}

TEST(anime_meta_entities_unknown_and_empty) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_ANIME, 1);
    char buf[512];
    us_meta m;
    us_err e;
    us_skip why;
#define MT(s) th_meta(&r, buf, sizeof buf, (s), &m, &e, &why)
    CHECK_EQ_INT(MT("anime_id,name,genre,type,episodes,rating,members"), US_NOREC);
    CHECK_OK(MT("28977,Gintama&#039;,\"Action, Comedy, Historical\",TV,51,9.25,114262"), e);
    CHECK_STR(m.title, "Gintama'");
    CHECK_OK(MT("7669,&quot;Bungaku Shoujo&quot; Movie,\"Drama, Mystery\",Movie,1,7.76,31416"),
             e);
    CHECK_STR(m.title, "\"Bungaku Shoujo\" Movie");
    CHECK_OK(MT("22297,Fate/stay night &amp; Prologue,Action,TV,12,8.39,393195"), e);
    CHECK_STR(m.title, "Fate/stay night & Prologue");
    REQUIRE(cJSON_GetArraySize(m.categories) == 1);
    CHECK_STR(th_cat(&m, 0), "Action");
    CHECK_OK(MT("1,&lt;x&gt; &#x41;&unknown; &#1234567;,,,,,"), e);
    CHECK_STR(m.title, "<x> A&unknown; &#1234567;");
    CHECK_OK(MT("2,\"Name, with comma \"\"quoted\"\"\",,OVA,,,"), e);
    CHECK_STR(m.title, "Name, with comma \"quoted\"");

    /* "Unknown" episodes and an empty average rating are null; genre and type may be empty. */
    CHECK_OK(MT("34136,Steins;Gate 0,\"Sci-Fi, Thriller\",TV,Unknown,,60999"), e);
    CHECK(cJSON_IsNull(th_attr(&m, "episodes")));
    CHECK(cJSON_IsNull(th_attr(&m, "rating")));
    CHECK_NEAR(cJSON_GetNumberValue(th_attr(&m, "members")), 60999, 0);
    CHECK_OK(MT("33589,ViVid Strike!,,,Unknown,,4780"), e);
    CHECK(m.categories == NULL);
    CHECK_STR(cJSON_GetStringValue(th_attr(&m, "type")), "");
    CHECK_OK(MT("5,,\" , Drama ,,Drama\",TV,3,5,"), e);
    CHECK(m.title == NULL);
    REQUIRE(cJSON_GetArraySize(m.categories) == 1);
    CHECK_STR(th_cat(&m, 0), "Drama");
    CHECK(cJSON_IsNull(th_attr(&m, "members")));
#undef MT
    us_reader_free(&r);
}

TEST(anime_meta_bad_lines) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_ANIME, 1);
    char buf[512];
    us_meta m;
    us_err e;
    us_skip why;
#define MT(s) th_meta(&r, buf, sizeof buf, (s), &m, &e, &why)
    CHECK_BAD(MT("anime_id,name,genre,type,episodes,members"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "anime_id,name,genre,type,episodes,rating,members") != NULL);
    CHECK_OK(MT("1,A,Drama,TV,12,8.5,100"), e);
    CHECK_BAD(MT("1,A,Drama,TV,12,8.5"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "expected 7 columns, found 6") != NULL);
    CHECK_BAD(MT("1,A,\"Drama, Comedy,TV,12,8.5,100"), US_SKIP_MALFORMED, "");
    CHECK_BAD(MT(",A,Drama,TV,12,8.5,100"), US_SKIP_MISSING, "anime_id");
    CHECK_BAD(MT("x1,A,Drama,TV,12,8.5,100"), US_SKIP_TYPE, "anime_id");
    CHECK_BAD(MT("1,A,Drama,TV,many,8.5,100"), US_SKIP_TYPE, "episodes");
    CHECK_BAD(MT("1,A,Drama,TV,-3,8.5,100"), US_SKIP_TYPE, "episodes");
    CHECK_BAD(MT("1,A,Drama,TV,12,high,100"), US_SKIP_TYPE, "rating");
    CHECK_BAD(MT("1,A,Drama,TV,12,8.5,lots"), US_SKIP_TYPE, "members");
    CHECK_BAD(MT("1,Caf\xe9,Drama,TV,12,8.5,100"), US_SKIP_UTF8, "");
#undef MT
    us_reader_free(&r);
}
