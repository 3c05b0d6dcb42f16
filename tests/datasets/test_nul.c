/* NUL characters in records: a raw NUL byte inside a field, or an escaped one (\u0000 in JSON,
 * \x00 in a Python literal), would cut the stored string short ("Copycat (1995)" stored as
 * "Copyca") or vanish from an id (two ids merging), so such a line is rejected as malformed,
 * in every format. Lines are given with their length, since they hold NUL bytes. */
#include <string.h>

#include "tests/datasets/reader_helpers.h"

/* Reads n bytes of text (which may hold NULs) as one line of r. */
static us_status nul_review(us_reader *r, char *buf, const char *text, size_t n, us_review *v,
                            us_err *e, us_skip *why) {
    memcpy(buf, text, n);
    buf[n] = '\0';
    us_err_clear(e);
    *why = US_SKIP_COUNT;
    return us_read_review(r, buf, n, v, e, why);
}

static us_status nul_meta(us_reader *r, char *buf, const char *text, size_t n, us_meta *m,
                          us_err *e, us_skip *why) {
    memcpy(buf, text, n);
    buf[n] = '\0';
    us_err_clear(e);
    *why = US_SKIP_COUNT;
    return us_read_meta(r, buf, n, m, e, why);
}

#define LIT(s) s, sizeof(s) - 1

TEST(nul_byte_in_movielens_title_rejects_the_line) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_MOVIELENS, 1);
    char buf[512];
    us_meta m;
    us_err e;
    us_skip why;
    static const char good[] = "63|Santa Clause, The (1994)|01-Jan-1994||http://x|"
                               "0|0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0";
    CHECK_OK(nul_meta(&r, buf, LIT(good), &m, &e, &why), e);
    CHECK_STR(m.title, "Santa Clause, The (1994)");
    static const char bad[] = "64|Copyca\0t (1995)|01-Jan-1995||http://x|"
                              "0|0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0";
    CHECK_BAD(nul_meta(&r, buf, LIT(bad), &m, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "NUL") != NULL);
    CHECK(strstr(e.msg, "byte 10") != NULL);
    /* The ratings file too: "1\0" is not the id "1". */
    us_reader rr;
    us_reader_init(&rr, US_FORMAT_MOVIELENS, 0);
    us_review v;
    CHECK_OK(nul_review(&rr, buf, LIT("1\t2\t3\t881250949"), &v, &e, &why), e);
    CHECK_BAD(nul_review(&rr, buf, LIT("1\0\t2\t3\t881250949"), &v, &e, &why),
              US_SKIP_MALFORMED, "");
    us_reader_free(&r);
    us_reader_free(&rr);
}

TEST(nul_byte_in_anime_name_rejects_the_line) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_ANIME, 1);
    char buf[512];
    us_meta m;
    us_err e;
    us_skip why;
    CHECK_EQ_INT(nul_meta(&r, buf, LIT("anime_id,name,genre,type,episodes,rating,members"), &m,
                          &e, &why),
                 US_NOREC);
    CHECK_OK(nul_meta(&r, buf, LIT("1,Cowboy Bebop,Action,TV,26,8.82,486824"), &m, &e, &why), e);
    CHECK_STR(m.title, "Cowboy Bebop");
    CHECK_BAD(nul_meta(&r, buf, LIT("2,Cowboy\0 Bebop,Action,TV,26,8.82,486824"), &m, &e, &why),
              US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "NUL") != NULL);
    us_reader_free(&r);
}

TEST(nul_in_yelp_attribute_rejects_the_line) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_YELP, 1);
    char buf[512];
    us_meta m;
    us_err e;
    us_skip why;
    CHECK_OK(nul_meta(&r, buf,
                      LIT("{\"business_id\":\"b1\",\"name\":\"Cafe\",\"state\":\"MO\","
                          "\"attributes\":{\"WiFi\":\"u'free'\"}}"),
                      &m, &e, &why),
             e);
    /* Raw and escaped, in a nested attribute value. */
    CHECK_BAD(nul_meta(&r, buf,
                       LIT("{\"business_id\":\"b1\",\"name\":\"Cafe\",\"state\":\"MO\","
                           "\"attributes\":{\"WiFi\":\"u'fr\0ee'\"}}"),
                       &m, &e, &why),
              US_SKIP_MALFORMED, "");
    CHECK_BAD(nul_meta(&r, buf,
                       LIT("{\"business_id\":\"b1\",\"name\":\"Cafe\",\"state\":\"MO\","
                           "\"attributes\":{\"WiFi\":\"u'fr\\u0000ee'\"}}"),
                       &m, &e, &why),
              US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "\\u0000") != NULL);
    /* An escaped backslash before "u0000" is text, not a NUL. */
    CHECK_OK(nul_meta(&r, buf,
                      LIT("{\"business_id\":\"b1\",\"name\":\"C\\\\u0000\",\"state\":\"MO\"}"),
                      &m, &e, &why),
             e);
    CHECK_STR(m.title, "C\\u0000");
    us_reader_free(&r);
}

TEST(nul_escape_in_json_id_does_not_merge_ids) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    char buf[512];
    us_review v;
    us_err e;
    us_skip why;
    CHECK_OK(nul_review(&r, buf,
                        LIT("{\"reviewerID\":\"AB\",\"asin\":\"X1\",\"overall\":5.0,"
                            "\"unixReviewTime\":1400000000}"),
                        &v, &e, &why),
             e);
    CHECK(th_eq(v.user, v.user_len, "AB"));
    /* Before, "A\u0000B" was read as "AB": another user's record. */
    CHECK_BAD(nul_review(&r, buf,
                         LIT("{\"reviewerID\":\"A\\u0000B\",\"asin\":\"X1\",\"overall\":5.0,"
                             "\"unixReviewTime\":1400000000}"),
                         &v, &e, &why),
              US_SKIP_MALFORMED, "");
    us_reader_free(&r);

    /* Amazon 2014 metadata is a Python literal: \x00 and \u0000 are NULs too. */
    us_reader_init(&r, US_FORMAT_AMAZON, 1);
    us_meta m;
    CHECK_OK(nul_meta(&r, buf, LIT("{'asin': 'X1', 'title': 'Cup'}"), &m, &e, &why), e);
    CHECK_STR(m.title, "Cup");
    CHECK_BAD(nul_meta(&r, buf, LIT("{'asin': 'X1', 'title': 'C\\x00up'}"), &m, &e, &why),
              US_SKIP_MALFORMED, "");
    CHECK_BAD(nul_meta(&r, buf, LIT("{'asin': 'X\\u00001', 'title': 'Cup'}"), &m, &e, &why),
              US_SKIP_MALFORMED, "");
    us_reader_free(&r);
}
